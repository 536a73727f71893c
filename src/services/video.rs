//! `video.VideoProcessing`: ListFilters and ProcessFrames over the [`crate::domain::video`]
//! filters.
//!
//! ProcessFrames reads the stream's config, then maps each frame message to a job on
//! rayon's pool of one thread per CPU (decode, filter, encode) and yields the results
//! with `buffered(2n)`, n being the CPUs: up to `2n` frames are taken in at once, at
//! most `n` are processed at once, and the replies keep the order of the frames.
//! Taking in more frames than there are threads lets a thread that finished a frame
//! take the next one at once, while an earlier frame is still being processed.
//! `buffered` pulls a new frame only when a reply has been taken, and tonic takes a
//! reply only when HTTP/2 flow control lets it send: a client that stops reading soon
//! stops the server from reading its frames too. A sequential filter (motion) takes and
//! processes one frame at a time.
//!
//! Each frame first reserves the memory its processing holds at its peak (see
//! [`video::memory::peak_bytes`]) from the stream's budget, its caller's (half the
//! server's) and the server's ([`crate::domain::budget`], `--stream-memory` and
//! `--memory-budget`), and keeps the part its reply holds until the reply has left the
//! server. A frame waits while a budget is full, so a client that sends frames and
//! never reads holds at most its stream's budget, and all its streams at most half the
//! server's; a frame (or a resize config) that could never fit is refused with
//! RESOURCE_EXHAUSTED.
//!
//! Each reply tells the server's response compression whether it may be compressed
//! ([`super::compression::ReplyHints`]): a JPEG or PNG frame never is.

use std::{
    collections::BTreeMap,
    num::NonZeroUsize,
    panic::{self, AssertUnwindSafe},
    sync::{Arc, Mutex},
    time::Instant,
};

use futures::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use super::{
    ResponseStream,
    compression::{self, ReplyHint, ReplyHints},
};
use crate::{
    domain::budget::{self, MemoryBudget, OverBudget, Reservation, StreamBudget},
    domain::streams::ActiveStreams,
    domain::video::{self, Encoding, Filter, FrameError, Limits, Processor},
    proto::video::{
        self as pb, FilterInfo, FilterParam, ListFiltersRequest, ListFiltersResponse,
        ProcessFramesRequest, ProcessFramesResponse, StreamConfig, process_frames_request::Message,
        video_processing_server,
    },
};

/// JPEG quality when the config gives none (0).
const DEFAULT_JPEG_QUALITY: u8 = 85;

/// The video service.
#[derive(Debug, Clone)]
pub struct VideoService {
    /// The largest frames accepted.
    limits: Limits,
    /// The CPUs this process may run on: the threads of rayon's pool, which processes
    /// the frames; a stream has up to twice as many frames in flight.
    parallelism: usize,
    /// Counts the ProcessFrames streams in progress.
    streams: ActiveStreams,
    /// The memory the frames of each stream, and of all of them, may hold.
    budget: MemoryBudget,
}

impl VideoService {
    /// A video service accepting frames within `limits`, processing up to one frame
    /// per CPU at once (of one stream or of several), within `budget`.
    pub fn new(limits: Limits, streams: ActiveStreams, budget: MemoryBudget) -> Self {
        let parallelism = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        // Named, or rayon's threads would take the name of the thread that first used
        // the pool (a tokio worker's) in top and perf. The global pool can be set up
        // once: a second service in the process (tests) finds it made, which is fine.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(parallelism)
            .thread_name(|i| format!("video-frames-{i}"))
            .build_global();
        Self {
            limits,
            parallelism,
            streams,
            budget,
        }
    }
}

fn encoding_from_proto(value: i32) -> Option<Encoding> {
    match pb::Encoding::try_from(value).ok()? {
        pb::Encoding::Unspecified => None,
        pb::Encoding::Jpeg => Some(Encoding::Jpeg),
        pb::Encoding::Png => Some(Encoding::Png),
        pb::Encoding::Gray8 => Some(Encoding::Gray8),
        pb::Encoding::Rgb8 => Some(Encoding::Rgb8),
    }
}

fn encoding_to_proto(encoding: Encoding) -> pb::Encoding {
    match encoding {
        Encoding::Jpeg => pb::Encoding::Jpeg,
        Encoding::Png => pb::Encoding::Png,
        Encoding::Gray8 => pb::Encoding::Gray8,
        Encoding::Rgb8 => pb::Encoding::Rgb8,
    }
}

/// How every frame of one stream is processed, from its config message.
#[derive(Debug)]
struct Job {
    filter: Filter,
    /// Shared by the frames of a sequential (motion) stream; each frame of another
    /// stream gets its own.
    sequential: Option<Mutex<Processor>>,
    output: Option<Encoding>,
    jpeg_quality: u8,
    limits: Limits,
}

impl Job {
    /// The job a config message asks for; INVALID_ARGUMENT naming the field at fault.
    fn from_config(config: StreamConfig, limits: Limits) -> Result<Self, Status> {
        let params: BTreeMap<String, f64> = config.params.into_iter().collect();
        let filter = video::parse_filter(&config.filter, &params)
            .and_then(|filter| filter.check_limits(&limits).map(|()| filter))
            .map_err(|err| {
                super::invalid_argument(&format!("config.{}", err.field), err.message)
            })?;
        let output = match config.output_encoding {
            0 => None,
            value => Some(encoding_from_proto(value).ok_or_else(|| {
                super::invalid_argument(
                    "config.output_encoding",
                    format!("unknown output encoding {value}"),
                )
            })?),
        };
        let jpeg_quality = match config.jpeg_quality {
            0 => DEFAULT_JPEG_QUALITY,
            q @ 1..=100 => q as u8,
            q => {
                return Err(super::invalid_argument(
                    "config.jpeg_quality",
                    format!("jpeg_quality is {q}; it must be 1 to 100, or 0 for 85"),
                ));
            }
        };
        Ok(Self {
            filter,
            sequential: filter
                .is_sequential()
                .then(|| Mutex::new(Processor::new(filter))),
            output,
            jpeg_quality,
            limits,
        })
    }

    /// Reserves the memory `frame` needs from `budget`, waiting while it is full, then
    /// processes it on rayon's pool of one thread per CPU, in the order frames come to
    /// it. The reply comes with the reservation of the bytes it holds.
    async fn process(
        self: Arc<Self>,
        budget: &StreamBudget,
        frame: pb::Frame,
    ) -> Result<(ProcessFramesResponse, Reservation), Status> {
        let sequence_number = frame.sequence_number;
        let input = encoding_from_proto(frame.encoding).ok_or_else(|| {
            super::invalid_argument(
                "frame.encoding",
                format!(
                    "frame {sequence_number}: encoding {} is not one of ENCODING_JPEG, \
                     ENCODING_PNG, ENCODING_GRAY8, ENCODING_RGB8",
                    frame.encoding
                ),
            )
        })?;
        let picture = video::Frame {
            width: frame.width,
            height: frame.height,
            encoding: input,
            data: frame.data,
        };
        let peak = video::memory::peak_bytes(&picture, &self.filter, &self.limits)
            .map_err(|err| frame_status(sequence_number, &err))?;
        let mut reservation = budget
            .reserve(usize::try_from(peak).unwrap_or(usize::MAX))
            .await
            .map_err(|err| over_budget(&format!("frame {sequence_number}"), &err))?;
        let meta = (sequence_number, frame.presentation_timestamp_us);
        // CPU work goes to rayon's pool (one thread per CPU), not tokio's blocking pool:
        // a pool thread that finishes a frame takes the next queued one at once, where
        // a blocking-pool job can only be spawned once a thread is free, which costs a
        // wake-up of a tokio worker and then of a pool thread between two frames
        // (measured: 13% of two CPUs idle; see BENCHMARKS.md).
        let (done, reply) = tokio::sync::oneshot::channel();
        rayon::spawn(move || {
            // The stream is gone (cancelled, or failed at an earlier frame): skip it.
            if done.is_closed() {
                return;
            }
            let result = panic::catch_unwind(AssertUnwindSafe(|| self.run(meta, picture)));
            let _ = done.send(result);
        });
        let reply = reply
            .await
            .map_err(|_| Status::internal("frame processing failed: its worker is gone"))?
            .map_err(|_| Status::internal("frame processing failed: it panicked"))??;
        reservation.shrink_to(reply.frame.as_ref().map_or(0, |frame| frame.data.len()));
        Ok((reply, reservation))
    }

    /// Decodes, filters and encodes one frame (CPU work: run it on rayon's pool).
    /// `meta` is the frame's (sequence number, presentation timestamp). A JPEG frame
    /// blurred or resized back to JPEG stays in Y'CbCr (`video::filter_jpeg`); any
    /// other goes through a decoded picture.
    fn run(
        &self,
        (sequence_number, presentation_timestamp_us): (u64, u64),
        frame: video::Frame,
    ) -> Result<ProcessFramesResponse, Status> {
        let started = Instant::now();
        let input = frame.encoding;
        let planar = match self.output {
            Some(output) if output != input => None,
            _ => video::filter_jpeg(&frame, &self.filter, &self.limits, self.jpeg_quality),
        };
        let (width, height, encoding, data) = match planar {
            Some(filtered) => {
                let filtered = filtered.map_err(|err| frame_status(sequence_number, &err))?;
                (filtered.width, filtered.height, input, filtered.jpeg)
            }
            None => self.through_picture(sequence_number, frame)?,
        };
        Ok(ProcessFramesResponse {
            frame: Some(pb::Frame {
                sequence_number,
                presentation_timestamp_us,
                width,
                height,
                encoding: encoding_to_proto(encoding).into(),
                data,
            }),
            processing_time_us: started.elapsed().as_micros() as u64,
        })
    }

    /// `frame` decoded, filtered and encoded: the output's (width, height, encoding,
    /// bytes).
    fn through_picture(
        &self,
        sequence_number: u64,
        frame: video::Frame,
    ) -> Result<(u32, u32, video::Encoding, Vec<u8>), Status> {
        let input = frame.encoding;
        let picture = video::decode_for(frame, &self.limits, &self.filter)
            .map_err(|err| frame_status(sequence_number, &err))?;
        let processed = match &self.sequential {
            Some(processor) => processor
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .process(&picture),
            None => Processor::new(self.filter).process(&picture),
        };
        drop(picture);
        let encoding = video::output_encoding(self.output, input, &processed);
        let (width, height) = (processed.width(), processed.height());
        let data = video::encode_owned(processed, encoding, self.jpeg_quality).map_err(|err| {
            Status::internal(format!("frame {sequence_number}: encoding failed: {err}"))
        })?;
        Ok((width, height, encoding, data))
    }
}

/// RESOURCE_EXHAUSTED for `what` (a frame, the config) needing more memory than a
/// stream may hold, naming the flag that sets it.
fn over_budget(what: &str, err: &OverBudget) -> Status {
    Status::resource_exhausted(format!("{what}: {err} (--stream-memory)"))
}

/// RESOURCE_EXHAUSTED for a frame over a limit, INVALID_ARGUMENT (naming the field)
/// for a malformed one.
fn frame_status(sequence_number: u64, err: &FrameError) -> Status {
    let message = format!("frame {sequence_number}: {err}");
    if err.is_size_limit() {
        return Status::resource_exhausted(message);
    }
    let field = match err {
        FrameError::EmptyPicture => "frame.width",
        _ => "frame.data",
    };
    super::invalid_argument(field, message)
}

fn filter_info(spec: &video::FilterSpec) -> FilterInfo {
    FilterInfo {
        name: spec.name.to_owned(),
        description: spec.description.to_owned(),
        params: spec
            .params
            .iter()
            .map(|p| FilterParam {
                name: p.name.to_owned(),
                min: p.min,
                max: p.max,
                default: p.default,
                description: p.description.to_owned(),
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl video_processing_server::VideoProcessing for VideoService {
    async fn list_filters(
        &self,
        _request: Request<ListFiltersRequest>,
    ) -> Result<Response<ListFiltersResponse>, Status> {
        Ok(Response::new(ListFiltersResponse {
            filters: video::FILTERS.iter().map(filter_info).collect(),
            max_frame_pixels: self.limits.max_pixels,
            max_frame_bytes: self.limits.max_bytes as u64,
        }))
    }

    type ProcessFramesStream = ResponseStream<ProcessFramesResponse>;

    async fn process_frames(
        &self,
        request: Request<Streaming<ProcessFramesRequest>>,
    ) -> Result<Response<Self::ProcessFramesStream>, Status> {
        let caller = super::caller(&request);
        let hints = ReplyHints::of(request.extensions());
        let mut input = request.into_inner();
        let config = match input.message().await? {
            // The client closed its side without sending anything: nothing to do.
            None => return Ok(Response::new(Box::pin(futures::stream::empty()))),
            Some(ProcessFramesRequest {
                message: Some(Message::Config(config)),
            }) => config,
            Some(_) => {
                return Err(super::invalid_argument(
                    "config",
                    "the first message of a ProcessFrames stream must be its config; \
                     frames come after it"
                        .to_owned(),
                ));
            }
        };
        let job = Arc::new(Job::from_config(config, self.limits)?);
        let budget = Arc::new(self.budget.stream(&caller));
        // A resize whose every output frame would be over the stream's budget (its
        // picture and its encoding) can never run: refuse it before any frame.
        if let Some(bytes) = video::memory::fixed_output_bytes(&job.filter) {
            budget
                .check(usize::try_from(bytes.saturating_mul(2)).unwrap_or(usize::MAX))
                .map_err(|err| over_budget("config", &err))?;
        }
        // Frames taken in at once: twice the workers, so that a free worker finds the
        // next frame waiting (see the module documentation).
        let in_flight = if job.filter.is_sequential() {
            1
        } else {
            2 * self.parallelism
        };
        let replies = input
            .map(move |message| {
                let job = Arc::clone(&job);
                let budget = Arc::clone(&budget);
                async move {
                    match message?.message {
                        Some(Message::Frame(frame)) => job.process(&budget, frame).await,
                        Some(Message::Config(_)) => Err(super::invalid_argument(
                            "config",
                            "a ProcessFrames stream has one config, its first message".to_owned(),
                        )),
                        None => Err(super::invalid_argument(
                            "message",
                            "a message with neither config nor frame".to_owned(),
                        )),
                    }
                }
            })
            .buffered(in_flight);
        let replies = budget::held_until_sent(replies);
        // The first error ends the stream, after the replies to the frames before it.
        let replies = replies.scan(false, |failed, reply| {
            let next = (!*failed).then(|| {
                *failed = reply.is_err();
                reply
            });
            futures::future::ready(next)
        });
        // A JPEG or PNG frame is compressed already: the server's response compression
        // would spend CPU to save nothing. Raw frames follow the server's policy.
        let replies = replies.inspect(move |reply| {
            if let Ok(reply) = reply {
                let encoded = reply.frame.as_ref().is_some_and(|frame| {
                    matches!(
                        pb::Encoding::try_from(frame.encoding),
                        Ok(pb::Encoding::Jpeg | pb::Encoding::Png)
                    )
                });
                let hint = if encoded {
                    ReplyHint::Never
                } else {
                    ReplyHint::Policy
                };
                compression::hint(hints.as_ref(), hint);
            }
        });
        Ok(Response::new(Box::pin(self.streams.track(replies))))
    }
}
