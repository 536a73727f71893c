//! Helpers of the video tests: the client, the stream's messages, the fixture photo.

use grpc_showcase::proto::video::{
    Encoding, Frame, ProcessFramesRequest, ProcessFramesResponse, StreamConfig,
    process_frames_request::Message, video_processing_client::VideoProcessingClient,
};
use image::{DynamicImage, GrayImage, RgbImage};
use tokio_stream::StreamExt;
use tonic::{Status, transport::Channel};

pub const ROCKET_JPEG: &[u8] = include_bytes!("../fixtures/rocket.jpg");
/// A client limit that takes any frame the default server limits allow.
pub const CLIENT_LIMIT: usize = 64 * 1024 * 1024;

pub fn client(channel: Channel) -> VideoProcessingClient<Channel> {
    VideoProcessingClient::new(channel)
        .max_decoding_message_size(CLIENT_LIMIT)
        .max_encoding_message_size(CLIENT_LIMIT)
}

pub fn config(filter: &str, params: &[(&str, f64)], output: Encoding) -> ProcessFramesRequest {
    ProcessFramesRequest {
        message: Some(Message::Config(StreamConfig {
            filter: filter.to_owned(),
            params: params.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            output_encoding: output.into(),
            jpeg_quality: 0,
        })),
    }
}

pub fn frame(
    sequence_number: u64,
    width: u32,
    height: u32,
    encoding: Encoding,
    data: Vec<u8>,
) -> ProcessFramesRequest {
    ProcessFramesRequest {
        message: Some(Message::Frame(Frame {
            sequence_number,
            presentation_timestamp_us: sequence_number * 40_000,
            width,
            height,
            encoding: encoding.into(),
            data,
        })),
    }
}

pub fn rgb_frame(sequence_number: u64, picture: &RgbImage) -> ProcessFramesRequest {
    frame(
        sequence_number,
        picture.width(),
        picture.height(),
        Encoding::Rgb8,
        picture.as_raw().clone(),
    )
}

pub fn rocket() -> RgbImage {
    image::load_from_memory(ROCKET_JPEG).unwrap().to_rgb8()
}

/// Sends `requests` as one stream; the replies, then the status that ended the stream.
pub async fn process(
    client: &mut VideoProcessingClient<Channel>,
    requests: Vec<ProcessFramesRequest>,
) -> (Vec<ProcessFramesResponse>, Result<(), Status>) {
    let mut replies = Vec::new();
    let mut stream = match client.process_frames(tokio_stream::iter(requests)).await {
        Ok(response) => response.into_inner(),
        Err(status) => return (replies, Err(status)),
    };
    loop {
        match stream.next().await {
            Some(Ok(reply)) => replies.push(reply),
            Some(Err(status)) => return (replies, Err(status)),
            None => return (replies, Ok(())),
        }
    }
}

/// The picture a reply carries, decoded by the image crate.
pub fn picture(reply: &ProcessFramesResponse) -> DynamicImage {
    let frame = reply.frame.as_ref().unwrap();
    match frame.encoding() {
        Encoding::Gray8 => DynamicImage::ImageLuma8(
            GrayImage::from_raw(frame.width, frame.height, frame.data.clone()).unwrap(),
        ),
        Encoding::Rgb8 => DynamicImage::ImageRgb8(
            RgbImage::from_raw(frame.width, frame.height, frame.data.clone()).unwrap(),
        ),
        Encoding::Png | Encoding::Jpeg => image::load_from_memory(&frame.data).unwrap(),
        Encoding::Unspecified => panic!("a reply without an encoding"),
    }
}
