//! The services and methods the server hosts, by name, and the message an unknown one
//! gets: what was asked for, and the closest names that are served.
//!
//! `unknown service helloworld.Greter; did you mean helloworld.Greeter?`
//! `unknown method SayHelo of helloworld.Greeter; its methods are SayHello, SayHelloAgain, ...`
//!
//! Closeness is the Jaro-Winkler similarity of the names, compared without case (the
//! `strsim` crate, the measure clap uses for its own "did you mean").

use std::collections::{BTreeMap, HashSet};

use super::quote::{MAX_QUOTED_CHARS, quote};

/// How similar (Jaro-Winkler, 0 to 1) a served name must be to be suggested: clap's
/// threshold for its suggestions (clap_builder 4.5, `parser/features/suggestions.rs`).
const SIMILAR: f64 = 0.7;
/// The most services a "did you mean" names.
const MAX_SUGGESTIONS: usize = 3;

/// Every hosted service's full name (`package.Service`, or `Service` without a
/// package) and its methods, in the order the descriptors give them.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Each service's methods, by the service's full name.
    services: BTreeMap<String, Vec<String>>,
    /// Every method's path, for the lookup every call makes ([`Catalog::serves`]).
    paths: HashSet<String, foldhash::fast::RandomState>,
}

impl Catalog {
    /// The catalog of `paths`, each `/package.Service/Method`; a path of another shape
    /// is skipped.
    pub fn from_paths<'a>(paths: impl IntoIterator<Item = &'a str>) -> Self {
        let mut catalog = Self::default();
        for path in paths {
            if let Some((service, method)) = split(path) {
                catalog
                    .services
                    .entry(service.to_owned())
                    .or_default()
                    .push(method.to_owned());
                catalog.paths.insert(path.to_owned());
            }
        }
        catalog
    }

    /// Whether `path` (`/package.Service/Method`) names a hosted method.
    pub fn serves(&self, path: &str) -> bool {
        self.paths.contains(path)
    }

    /// The message for a call to `path` that no service answers: the unknown service
    /// with the closest served names (or all of them when none is close), or the
    /// unknown method with its service's methods. `None` when `path` is served.
    ///
    /// Every part of `path` the message repeats is bounded and escaped
    /// ([`MAX_QUOTED_CHARS`], [`quote`]): a made-up path cannot forge lines or grow
    /// the message.
    pub fn unknown(&self, path: &str) -> Option<String> {
        let Some((service, method)) = split(path) else {
            return Some(format!(
                "{} is not a gRPC method's path, which is /package.Service/Method; \
                 the services are {}",
                name(path),
                self.service_list()
            ));
        };
        if self.serves(path) {
            return None;
        }
        let Some(methods) = self.services.get(service) else {
            let close = self.close_services(service);
            return Some(if close.is_empty() {
                format!(
                    "unknown service {}; the services are {}",
                    name(service),
                    self.service_list()
                )
            } else {
                format!(
                    "unknown service {}; did you mean {}?",
                    name(service),
                    or_list(&close)
                )
            });
        };
        Some(format!(
            "unknown method {} of {service}; its methods are {}",
            name(method),
            methods.join(", ")
        ))
    }

    /// The served names closest to `service`, most similar first.
    fn close_services(&self, service: &str) -> Vec<&str> {
        // No served name is this long: no need to spend time measuring a long one.
        if service.len() > 4 * MAX_QUOTED_CHARS {
            return Vec::new();
        }
        let asked = service.to_lowercase();
        let mut scored: Vec<(f64, &str)> = self
            .services
            .keys()
            .map(|served| {
                (
                    strsim::jaro_winkler(&asked, &served.to_lowercase()),
                    served.as_str(),
                )
            })
            .filter(|(score, _)| *score >= SIMILAR)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        scored
            .into_iter()
            .take(MAX_SUGGESTIONS)
            .map(|(_, name)| name)
            .collect()
    }

    fn service_list(&self) -> String {
        self.services
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `/package.Service/Method` as (`package.Service`, `Method`), both non-empty.
fn split(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

/// A name as the caller sent it: as is when it is a plain proto name (letters, digits,
/// `_` and `.`, at most [`MAX_QUOTED_CHARS`]), else quoted, escaped and cut.
fn name(asked: &str) -> String {
    let plain = !asked.is_empty()
        && asked.len() <= MAX_QUOTED_CHARS
        && asked
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if plain {
        asked.to_owned()
    } else {
        quote(asked)
    }
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::from_paths([
            "/helloworld.Greeter/SayHello",
            "/helloworld.Greeter/SayHelloAgain",
            "/helloworld.Greeter/SayHelloStreamReply",
            "/helloworld.Greeter/SayHelloBidiStream",
            "/Greeter/SayHello",
            "/calculator.Calculator/Add",
            "/grpc.health.v1.Health/Check",
        ])
    }

    #[test]
    fn served_paths_are_not_unknown() {
        let catalog = catalog();
        assert!(catalog.serves("/Greeter/SayHello"));
        assert_eq!(catalog.unknown("/helloworld.Greeter/SayHello"), None);
        assert!(!catalog.serves("/Greeter/SayHelloAgain"));
    }

    #[test]
    fn an_unknown_service_gets_the_closest_names() {
        assert_eq!(
            catalog().unknown("/helloworld.Greter/SayHello").unwrap(),
            "unknown service helloworld.Greter; did you mean helloworld.Greeter?"
        );
        let message = catalog().unknown("/greeter/SayHello").unwrap();
        assert!(
            message.starts_with("unknown service greeter; did you mean Greeter"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_service_with_no_close_name_gets_the_list() {
        assert_eq!(
            catalog().unknown("/zzz.Qqq/X").unwrap(),
            "unknown service zzz.Qqq; the services are Greeter, calculator.Calculator, \
             grpc.health.v1.Health, helloworld.Greeter"
        );
    }

    #[test]
    fn an_unknown_method_gets_its_service_methods() {
        assert_eq!(
            catalog().unknown("/helloworld.Greeter/SayHelo").unwrap(),
            "unknown method SayHelo of helloworld.Greeter; its methods are SayHello, \
             SayHelloAgain, SayHelloStreamReply, SayHelloBidiStream"
        );
    }

    #[test]
    fn what_the_caller_sent_is_bounded_and_escaped() {
        let long = format!("/{}/X", "a".repeat(100_000));
        let message = catalog().unknown(&long).unwrap();
        assert!(message.len() < 400, "{} bytes", message.len());
        let forged = catalog()
            .unknown("/helloworld.Greeter/Say\r\ngrpc-status: 0")
            .unwrap();
        assert!(!forged.contains('\n'), "{forged}");
        assert!(
            forged.starts_with("unknown method \"Say\\r\\ngrpc-status: 0\""),
            "{forged}"
        );
        let not_a_path = catalog().unknown("/justone").unwrap();
        assert!(
            not_a_path.starts_with("\"/justone\" is not a gRPC method's path"),
            "{not_a_path}"
        );
    }

    #[test]
    fn names_are_listed_with_or() {
        assert_eq!(or_list(&["a"]), "a");
        assert_eq!(or_list(&["a", "b"]), "a or b");
        assert_eq!(or_list(&["a", "b", "c"]), "a, b or c");
    }
}
