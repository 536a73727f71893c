use super::*;

fn accepted(header: &str) -> Accepted {
    Accepted::from_headers([&HeaderValue::from_str(header).unwrap()])
}

/// grpcio's header, as it sends it on every call.
const GRPCIO: &str = "identity, deflate, gzip";

#[test]
fn accept_headers_are_read_as_clients_write_them() {
    let grpcio = accepted(GRPCIO);
    assert!(grpcio.contains(Encoding::Gzip) && grpcio.contains(Encoding::Deflate));
    assert!(!grpcio.contains(Encoding::Zstd));
    assert_eq!(grpcio.preferred(), Some(Encoding::Gzip));
    // tonic's own form, and HTTP's with quality values (a browser's).
    assert!(accepted("gzip,zstd").contains(Encoding::Zstd));
    let browser = accepted("gzip;q=0, deflate, br, ZSTD;q=0.5");
    assert!(!browser.contains(Encoding::Gzip));
    assert!(browser.contains(Encoding::Deflate) && browser.contains(Encoding::Zstd));
    assert_eq!(accepted("identity"), Accepted::default());
    assert_eq!(Accepted::from_headers([]), Accepted::default());
}

#[test]
fn mirror_compresses_only_what_the_request_compressed() {
    let policy = ResponseCompression::Mirror;
    assert_eq!(policy.plan(None, accepted(GRPCIO), false), None);
    let plan = policy
        .plan(Some(Encoding::Gzip), accepted(GRPCIO), false)
        .unwrap();
    assert_eq!(plan.encoding, Encoding::Gzip);
    assert!(plan.by_policy);
    // Never in an encoding the client did not list.
    assert_eq!(
        policy.plan(Some(Encoding::Zstd), accepted(GRPCIO), false),
        None
    );
    assert_eq!(
        policy.plan(Some(Encoding::Gzip), Accepted::default(), false),
        None
    );
}

#[test]
fn gzip_and_zstd_compress_for_every_client_that_accepts_them() {
    let gzip = ResponseCompression::Gzip
        .plan(None, accepted(GRPCIO), false)
        .unwrap();
    assert_eq!(gzip.encoding, Encoding::Gzip);
    // A client without zstd gets the mirror's choice instead.
    assert_eq!(
        ResponseCompression::Zstd.plan(None, accepted(GRPCIO), false),
        None
    );
    let mirrored = ResponseCompression::Zstd
        .plan(Some(Encoding::Deflate), accepted(GRPCIO), false)
        .unwrap();
    assert_eq!(mirrored.encoding, Encoding::Deflate);
    assert_eq!(
        ResponseCompression::Gzip.plan(None, accepted("identity"), false),
        None
    );
}

#[test]
fn off_compresses_nothing_but_what_a_request_asks_for() {
    let off = ResponseCompression::Off;
    assert_eq!(
        off.plan(Some(Encoding::Gzip), accepted(GRPCIO), false),
        None
    );
    let plan = off.plan(None, accepted(GRPCIO), true).unwrap();
    assert_eq!(plan.encoding, Encoding::Gzip);
    assert!(!plan.by_policy);
    assert!(plan.compresses(ReplyHint::Always, 10));
    assert!(!plan.compresses(ReplyHint::Policy, 1 << 20));
    assert_eq!(off.plan(None, Accepted::default(), true), None);
}

#[test]
fn small_and_precompressed_messages_stay_plain() {
    let plan = Plan {
        encoding: Encoding::Gzip,
        by_policy: true,
    };
    assert!(!plan.compresses(ReplyHint::Policy, MIN_COMPRESSED_MESSAGE - 1));
    assert!(plan.compresses(ReplyHint::Policy, MIN_COMPRESSED_MESSAGE));
    assert!(!plan.compresses(ReplyHint::Never, 1 << 20));
    assert!(plan.compresses(ReplyHint::Always, 1));
}

#[test]
fn every_encoding_round_trips_and_a_bomb_is_refused() {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    for encoding in Encoding::ALL {
        let compressed = encoding.compress(&data).unwrap();
        assert!(compressed.len() < data.len() / 10, "{encoding:?}");
        assert_eq!(encoding.decompress(&compressed, data.len()).unwrap(), data);
        assert!(matches!(
            encoding.decompress(&compressed, data.len() - 1),
            Err(Decompress::TooLarge)
        ));
        assert!(matches!(
            encoding.decompress(b"not compressed", 1000),
            Err(Decompress::Invalid(_))
        ));
    }
}

#[test]
fn a_small_reply_grows_when_gzipped() {
    // The reason for MIN_COMPRESSED_MESSAGE: SayHello's 15-byte reply.
    let reply = b"\n\rHello, World!";
    assert_eq!(reply.len(), 15);
    assert!(Encoding::Gzip.compress(reply).unwrap().len() > reply.len());
}
