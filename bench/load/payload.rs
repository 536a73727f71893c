//! What the requests send: the models' reference inputs, the fraud reference
//! transactions (as gRPC messages or as the gateway's JSON), or a photo for the video
//! service.

use crate::{
    Args, Rpc, Wire,
    proto::{
        fraud_detection::PredictionRequest,
        inference::{ModelInferRequest, model_infer_request::InferInputTensor},
        model::PredictRequest,
        video::{
            Encoding, Frame, ProcessFramesRequest, StreamConfig, process_frames_request::Message,
        },
    },
};

/// What one request sends.
pub enum Payload {
    Fraud(Vec<PredictionRequest>),
    /// JSON bodies for the gateway.
    Gateway(Vec<bytes::Bytes>),
    Predict(Vec<PredictRequest>),
    /// ModelInfer requests with the same rows as Predict's, as raw FP32.
    Infer(Vec<ModelInferRequest>),
    Hello,
    HelloStream {
        window: usize,
    },
    Calculator,
    Feedback {
        window: usize,
    },
    Video {
        window: usize,
        config: ProcessFramesRequest,
        frame: Frame,
    },
}

pub fn payload(args: &Args) -> Result<Payload, Box<dyn std::error::Error>> {
    let model = match args.rpc {
        Rpc::Hello => return Ok(Payload::Hello),
        Rpc::Calculator => return Ok(Payload::Calculator),
        Rpc::HelloStream => {
            return Ok(Payload::HelloStream {
                window: args.window.max(1),
            });
        }
        Rpc::Feedback => {
            return Ok(Payload::Feedback {
                window: args.window.max(1),
            });
        }
        Rpc::Video => return video_payload(args),
        Rpc::Fraud | Rpc::Gateway => "fraud",
        Rpc::Predict | Rpc::Infer => args.model.as_str(),
    };
    let path = args.models_dir.join(model).join("reference.json");
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    Ok(match args.rpc {
        Rpc::Gateway => Payload::Gateway(
            reference["requests"]
                .as_array()
                .ok_or("no requests in the fraud reference")?
                .iter()
                .map(|r| {
                    let fields = [
                        "transaction_id",
                        "amount",
                        "time",
                        "age_of_account",
                        "number_of_transactions",
                    ];
                    let body: serde_json::Map<_, _> = fields
                        .iter()
                        .map(|f| (f.to_string(), r[f].clone()))
                        .collect();
                    bytes::Bytes::from(serde_json::Value::Object(body).to_string())
                })
                .collect(),
        ),
        Rpc::Fraud => Payload::Fraud(
            reference["requests"]
                .as_array()
                .ok_or("no requests in the fraud reference")?
                .iter()
                .map(|r| PredictionRequest {
                    transaction_id: r["transaction_id"].as_i64().unwrap_or(0),
                    amount: r["amount"].as_f64().unwrap_or(0.0),
                    time: r["time"].as_i64().unwrap_or(0),
                    age_of_account: r["age_of_account"].as_i64().unwrap_or(0) as i32,
                    number_of_transactions: r["number_of_transactions"].as_i64().unwrap_or(0)
                        as i32,
                })
                .collect(),
        ),
        _ => {
            let rows: Vec<Vec<f64>> = serde_json::from_value(reference["inputs"].clone())?;
            let requests = (0..rows.len())
                .map(|start| PredictRequest {
                    model_id: model.to_owned(),
                    inputs: rows
                        .iter()
                        .cycle()
                        .skip(start)
                        .take(args.rows)
                        .flatten()
                        .copied()
                        .collect(),
                })
                .collect::<Vec<PredictRequest>>();
            if matches!(args.rpc, Rpc::Infer) {
                let width = rows.first().map_or(0, Vec::len) as i64;
                return Ok(Payload::Infer(
                    requests
                        .into_iter()
                        .map(|request| ModelInferRequest {
                            model_name: request.model_id,
                            inputs: vec![InferInputTensor {
                                name: "input".to_owned(),
                                datatype: "FP32".to_owned(),
                                shape: vec![request.inputs.len() as i64 / width, width],
                                ..InferInputTensor::default()
                            }],
                            raw_input_contents: vec![
                                request
                                    .inputs
                                    .iter()
                                    .flat_map(|&v| (v as f32).to_le_bytes())
                                    .collect(),
                            ],
                            ..ModelInferRequest::default()
                        })
                        .collect(),
                ));
            }
            Payload::Predict(requests)
        }
    })
}

/// A real photo (tests/fixtures/rocket.jpg, 160 x 120, scaled to --width x --height
/// with a bilinear filter) as the frame every request sends, and the config.
fn video_payload(args: &Args) -> Result<Payload, Box<dyn std::error::Error>> {
    let photo = image::open(&args.frame)?.resize_exact(
        args.width,
        args.height,
        image::imageops::FilterType::Triangle,
    );
    let (encoding, data) = match args.wire {
        Wire::Rgb8 => (Encoding::Rgb8, photo.to_rgb8().into_raw()),
        Wire::Jpeg => {
            let mut jpeg = Vec::new();
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90);
            photo.to_rgb8().write_with_encoder(encoder)?;
            (Encoding::Jpeg, jpeg)
        }
    };
    let params = args
        .params
        .iter()
        .map(|p| {
            let (k, v) = p.split_once('=').ok_or("--param takes name=value")?;
            Ok((k.to_owned(), v.parse::<f64>()?))
        })
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    Ok(Payload::Video {
        window: args.window.max(1),
        config: ProcessFramesRequest {
            message: Some(Message::Config(StreamConfig {
                filter: args.filter.clone(),
                params,
                output_encoding: Encoding::Unspecified.into(),
                jpeg_quality: 0,
            })),
        },
        frame: Frame {
            width: args.width,
            height: args.height,
            encoding: encoding.into(),
            data,
            ..Frame::default()
        },
    })
}
