//! A client of `model.ModelInference`: discover the models, read a model's metadata,
//! predict one row and a batch, and stream many predictions over one call.
//!
//! Start the server (`cargo run --release`), then in another terminal:
//!
//! ```text
//! cargo run --bin model_inference
//! cargo run --bin model_inference -- --model digits
//! ```

/// The code that build.rs generates from `proto/model.proto`: its messages and client.
pub mod model {
    tonic::include_proto!("model");
}

use clap::Parser;
use model::{
    ListModelsRequest, ModelMetadataRequest, PredictRequest,
    model_inference_client::ModelInferenceClient, predict_stream_response::Result as StreamResult,
};

/// Lists the models, describes one, and runs it.
#[derive(Parser)]
struct Args {
    /// The server's address.
    #[arg(
        long,
        env = "GRPC_SHOWCASE_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    addr: String,
    /// The model to describe and run.
    #[arg(long, default_value = "iris")]
    model: String,
}

/// Example rows for each shipped model, in its input's column order.
fn example_rows(model: &str, width: usize) -> Vec<Vec<f64>> {
    match model {
        // sepal length, sepal width, petal length, petal width (cm)
        "iris" => vec![
            vec![5.1, 3.5, 1.4, 0.2],
            vec![6.0, 2.9, 4.5, 1.5],
            vec![6.7, 3.0, 5.2, 2.3],
        ],
        // age, sex, bmi, bp, s1..s6 in their units (see GetModelMetadata)
        "diabetes" => vec![
            vec![59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0],
            vec![48.0, 1.0, 21.6, 87.0, 183.0, 103.2, 70.0, 3.0, 3.8918, 69.0],
        ],
        // a hand-drawn "1": a vertical bar in the middle columns of the 8x8 image
        "digits" => vec![
            (0..64)
                .map(|i| if (3..5).contains(&(i % 8)) { 16.0 } else { 0.0 })
                .collect(),
        ],
        // any other model: a row of zeros
        _ => vec![vec![0.0; width]],
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut client = ModelInferenceClient::connect(args.addr.clone()).await?;

    println!("== ListModels (unary): what the server serves");
    for model in client
        .list_models(ListModelsRequest {})
        .await?
        .into_inner()
        .models
    {
        let state = if model.ready {
            "ready".to_owned()
        } else {
            format!("NOT READY: {}", model.reason)
        };
        println!(
            "{:<10} v{}  {:<6} {}",
            model.id, model.version, state, model.description
        );
    }

    println!(
        "\n== GetModelMetadata (unary): the tensors of {:?}",
        args.model
    );
    let metadata = client
        .get_model_metadata(ModelMetadataRequest {
            model_id: args.model.clone(),
        })
        .await?
        .into_inner();
    for tensor in metadata.inputs.iter().chain(&metadata.outputs) {
        println!(
            "tensor {:?}: {} {:?}  {}",
            tensor.name, tensor.datatype, tensor.shape, tensor.description
        );
    }
    for feature in metadata.inputs[0].features.iter().take(10) {
        println!(
            "  column {:<16} {:<12} {}",
            feature.name, feature.unit, feature.description
        );
    }
    let mut metrics: Vec<_> = metadata.metrics.iter().collect();
    metrics.sort_by(|a, b| a.0.cmp(b.0));
    println!("held-out metrics: {metrics:?}");
    let width = metadata.inputs[0].shape[1] as usize;
    let labels = &metadata.outputs[0].labels;

    println!("\n== Predict (unary): one row");
    let rows = example_rows(&args.model, width);
    let response = client
        .predict(PredictRequest {
            model_id: args.model.clone(),
            inputs: rows[0].clone(),
        })
        .await?
        .into_inner();
    println!("inputs  {:?}", rows[0]);
    println!(
        "outputs {:?} (shape {:?})",
        response.outputs, response.output_shape
    );
    if !labels.is_empty() {
        let best = (0..response.outputs.len())
            .max_by(|&a, &b| response.outputs[a].total_cmp(&response.outputs[b]))
            .unwrap();
        println!(
            "most likely: {} ({:.4})",
            labels[best], response.outputs[best]
        );
    }

    println!(
        "\n== Predict (unary): a batch of {} rows, flattened row by row",
        rows.len()
    );
    let response = client
        .predict(PredictRequest {
            model_id: args.model.clone(),
            inputs: rows.concat(),
        })
        .await?
        .into_inner();
    // The output is flattened too: split it by the output width.
    let out_width = response.output_shape[1] as usize;
    for (i, row) in response.outputs.chunks(out_width).enumerate() {
        println!("row {i}: {row:.4?}");
    }

    println!("\n== PredictStream (bidirectional): many predictions over one call");
    // A bad request (wrong width) gets its error in its own response; the stream goes on.
    let mut requests: Vec<PredictRequest> = rows
        .iter()
        .map(|row| PredictRequest {
            model_id: args.model.clone(),
            inputs: row.clone(),
        })
        .collect();
    requests.insert(
        1,
        PredictRequest {
            model_id: args.model.clone(),
            inputs: vec![1.0; width + 1],
        },
    );
    let mut responses = client
        .predict_stream(tokio_stream::iter(requests))
        .await?
        .into_inner();
    while let Some(response) = responses.message().await? {
        match response.result {
            Some(StreamResult::Response(r)) => println!("#{} {:.4?}", response.index, r.outputs),
            Some(StreamResult::Error(e)) => {
                println!("#{} error {}: {}", response.index, e.code, e.message)
            }
            None => println!("#{} empty", response.index),
        }
    }
    Ok(())
}
