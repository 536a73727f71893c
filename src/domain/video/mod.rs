//! Video frames and image filters: the domain of `video.VideoProcessing`
//! (`src/services/video.rs` is its gRPC adapter).
//!
//! A [`Frame`] carries one picture, JPEG, PNG or raw (8-bit gray or RGB, row by row).
//! [`decode`] checks its size against [`Limits`] before any pixel is decoded: a JPEG or
//! PNG header that announces an enormous picture (a decompression bomb) is refused from
//! the header alone ([`frame`]). A [`Processor`] applies one [`Filter`] to the frames of
//! one stream; the motion filter compares each frame with the previous one of the same
//! stream ([`processor`]). [`FILTERS`] lists every filter with its parameters
//! ([`filter`]). The pixel work is this module's own fast [`kernels`] (luma, Gaussian
//! blur, Sobel, Canny), and the image crate's for the rest. A JPEG frame blurred or
//! resized back to JPEG skips RGB altogether: [`filter_jpeg`] works on its Y'CbCr
//! planes as stored ([`planar`]).

pub mod filter;
pub mod frame;
mod jpeg;
pub mod kernels;
pub mod memory;
pub mod planar;
pub mod processor;

pub use filter::{FILTERS, Filter, FilterError, FilterSpec, ParamSpec, parse_filter};
pub use frame::{
    Encoding, Frame, FrameError, Limits, decode, decode_for, encode, encode_owned, output_encoding,
};
pub use planar::{Filtered, filter_jpeg};
pub use processor::Processor;
