//! What the playground page knows of the server: every service and method, their
//! messages and enums with the proto comments, and an example request for each method,
//! as one JSON document built from the server's descriptor sets.
//!
//! The document (`GET /playground/schema.json`):
//!
//! ```json
//! {
//!   "auth": false,
//!   "services": [{"name": "helloworld.Greeter", "package": "helloworld", "comment": "...",
//!     "methods": [{"name": "SayHello", "path": "/helloworld.Greeter/SayHello",
//!       "kind": "unary", "input": "helloworld.HelloRequest", "output": "...",
//!       "comment": "...", "example": "{\"name\":\"Ada\"}"}]}],
//!   "messages": {"helloworld.HelloRequest": {"comment": "...", "fields": [{"name": "name",
//!     "jsonName": "name", "type": "string", "label": "optional|repeated|map",
//!     "oneof": null, "comment": "..."}]}},
//!   "enums": {"video.Encoding": {"comment": "...",
//!     "values": [{"name": "ENCODING_JPEG", "number": 1, "comment": "..."}]}}
//! }
//! ```
//!
//! `example` is JSON text, fields in proto order. `kind` is `unary`, `server_streaming`, `client_streaming` or `bidi_streaming`. A
//! field's `type` is a scalar's proto name (`string`, `int64` ...) or the full name of a
//! message or enum, which `messages` or `enums` describes; a map field has `key` and
//! `value` types instead.

use std::collections::{BTreeMap, HashMap};

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    MethodDescriptor, SerializeOptions, Value,
};
use serde_json::{Map, Value as Json, json};

/// Curated requests, by method path: what a learner would send first. Methods not
/// named here get a generated example with every field.
const EXAMPLES: &str = include_str!("examples.json");

/// How deep the generated examples go into nested messages (recursive types end here).
const MAX_DEPTH: usize = 4;

/// The schema document for every service of `pool`; `auth` tells the page to offer a
/// token field.
///
/// # Errors
/// When a curated example is not valid JSON for its method's input (a bug in
/// `examples.json`, which the tests catch).
pub fn schema(pool: &DescriptorPool, auth: bool) -> Result<Json, String> {
    let curated: HashMap<String, Json> =
        serde_json::from_str(EXAMPLES).map_err(|err| format!("playground/examples.json: {err}"))?;
    let comments = Comments::new(pool);
    let mut types = Types::default();
    let mut services = Vec::new();
    for service in pool.services() {
        let mut methods = Vec::new();
        for method in service.methods() {
            let path = format!("/{}/{}", service.full_name(), method.name());
            let example = example(&method, curated.get(&path))
                .map_err(|err| format!("the example of {path}: {err}"))?;
            types.message(&method.input(), &comments);
            types.message(&method.output(), &comments);
            methods.push(json!({
                "name": method.name(),
                "path": path,
                "kind": kind(&method),
                "input": method.input().full_name(),
                "output": method.output().full_name(),
                "comment": comments.of(method.parent_file().name(), method.path()),
                "example": example,
            }));
        }
        services.push(json!({
            "name": service.full_name(),
            "package": service.package_name(),
            "comment": comments.of(service.parent_file().name(), service.path()),
            "methods": methods,
        }));
    }
    Ok(json!({
        "auth": auth,
        "services": services,
        "messages": types.messages,
        "enums": types.enums,
    }))
}

fn kind(method: &MethodDescriptor) -> &'static str {
    match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => "unary",
        (false, true) => "server_streaming",
        (true, false) => "client_streaming",
        (true, true) => "bidi_streaming",
    }
}

/// The leading comments of every element, by file and source path.
struct Comments(HashMap<(String, Vec<i32>), String>);

impl Comments {
    fn new(pool: &DescriptorPool) -> Self {
        let mut comments = HashMap::new();
        for file in pool.files() {
            let proto = file.file_descriptor_proto();
            for location in proto
                .source_code_info
                .iter()
                .flat_map(|info| &info.location)
            {
                if let Some(text) = &location.leading_comments {
                    let key = (file.name().to_owned(), location.path.clone());
                    comments.insert(key, tidy(text));
                }
            }
        }
        Self(comments)
    }

    fn of(&self, file: &str, path: &[i32]) -> String {
        self.0
            .get(&(file.to_owned(), path.to_vec()))
            .cloned()
            .unwrap_or_default()
    }
}

/// A comment without the one space after each `//`, and without the final newline.
fn tidy(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect();
    lines.join("\n").trim_end().to_owned()
}

/// The messages and enums the methods use, described for the page.
#[derive(Default)]
struct Types {
    messages: BTreeMap<String, Json>,
    enums: BTreeMap<String, Json>,
}

impl Types {
    fn message(&mut self, message: &MessageDescriptor, comments: &Comments) {
        if self.messages.contains_key(message.full_name()) {
            return;
        }
        // Inserted first, so that a recursive type ends here.
        self.messages
            .insert(message.full_name().to_owned(), Json::Null);
        let file = message.parent_file();
        let mut fields = Vec::new();
        for field in message.fields() {
            let mut described = Map::new();
            described.insert("name".into(), field.name().into());
            described.insert("jsonName".into(), field.json_name().into());
            let label = if field.is_map() {
                let Kind::Message(entry) = field.kind() else {
                    unreachable!("a map field's kind is its entry message")
                };
                described.insert(
                    "key".into(),
                    self.type_of(&entry.map_entry_key_field().kind(), comments),
                );
                described.insert(
                    "value".into(),
                    self.type_of(&entry.map_entry_value_field().kind(), comments),
                );
                "map"
            } else {
                described.insert("type".into(), self.type_of(&field.kind(), comments));
                if field.is_list() {
                    "repeated"
                } else {
                    "optional"
                }
            };
            described.insert("label".into(), label.into());
            let oneof = field
                .containing_oneof()
                .filter(|oneof| !oneof.is_synthetic())
                .map(|oneof| oneof.name().to_owned());
            described.insert("oneof".into(), oneof.into());
            described.insert(
                "comment".into(),
                comments.of(file.name(), field.path()).into(),
            );
            fields.push(Json::Object(described));
        }
        self.messages.insert(
            message.full_name().to_owned(),
            json!({ "comment": comments.of(file.name(), message.path()), "fields": fields }),
        );
    }

    /// The type's name for the page, describing a message or enum on the way.
    fn type_of(&mut self, kind: &Kind, comments: &Comments) -> Json {
        match kind {
            Kind::Message(message) => {
                self.message(message, comments);
                message.full_name().into()
            }
            Kind::Enum(enumeration) => {
                let file = enumeration.parent_file();
                let values: Vec<Json> = enumeration
                    .values()
                    .map(|value| {
                        json!({
                            "name": value.name(),
                            "number": value.number(),
                            "comment": comments.of(file.name(), value.path()),
                        })
                    })
                    .collect();
                let described = json!({
                    "comment": comments.of(file.name(), enumeration.path()),
                    "values": values,
                });
                self.enums
                    .insert(enumeration.full_name().to_owned(), described);
                enumeration.full_name().into()
            }
            scalar => format!("{scalar:?}").to_lowercase().into(),
        }
    }
}

/// The request the editor opens with: `curated` laid over a message with every field
/// set, written as proto3 JSON (the names and forms the Connect endpoint reads). Text,
/// not a JSON value, to keep the fields in their proto order (serde_json's maps sort
/// their keys).
fn example(method: &MethodDescriptor, curated: Option<&Json>) -> Result<String, String> {
    let input = method.input();
    let mut message = full_message(&input, 0);
    if let Some(json) = curated {
        let curated =
            DynamicMessage::deserialize(input.clone(), json).map_err(|err| err.to_string())?;
        for (field, value) in curated.fields() {
            message.set_field(&field, value.clone());
        }
        // A field the example names with its default (an empty list: no raw inputs)
        // keeps that default rather than the generated value.
        for key in json
            .as_object()
            .into_iter()
            .flat_map(|object| object.keys())
        {
            if let Some(field) = input
                .get_field_by_name(key)
                .or_else(|| input.get_field_by_json_name(key))
            {
                message.set_field(&field, curated.get_field(&field).into_owned());
            }
        }
    }
    let options = SerializeOptions::new().skip_default_fields(false);
    let mut text = Vec::new();
    message
        .serialize_with_options(&mut serde_json::Serializer::new(&mut text), &options)
        .map_err(|err| err.to_string())?;
    String::from_utf8(text).map_err(|err| err.to_string())
}

/// A message of type `message` with every field set (the first member of a oneof),
/// to an example value of its type.
fn full_message(message: &MessageDescriptor, depth: usize) -> DynamicMessage {
    let mut dynamic = DynamicMessage::new(message.clone());
    if depth >= MAX_DEPTH {
        return dynamic;
    }
    for field in message.fields() {
        let first_of_oneof = field.containing_oneof().is_none_or(|oneof| {
            oneof.is_synthetic() || oneof.fields().next().is_some_and(|first| first == field)
        });
        if !first_of_oneof {
            continue;
        }
        if let Some(value) = field_value(&field, depth) {
            dynamic.set_field(&field, value);
        }
    }
    dynamic
}

fn field_value(field: &FieldDescriptor, depth: usize) -> Option<Value> {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return None;
        };
        let key = map_key(&entry.map_entry_key_field().kind())?;
        let value = single_value(&entry.map_entry_value_field().kind(), depth)?;
        return Some(Value::Map([(key, value)].into_iter().collect()));
    }
    let value = single_value(&field.kind(), depth)?;
    Some(if field.is_list() {
        Value::List(vec![value])
    } else {
        value
    })
}

/// An example value of one element of `kind`; `None` for the well-known types whose
/// JSON has no simple empty form (`Any`, `Struct`, `Value`, `ListValue`).
fn single_value(kind: &Kind, depth: usize) -> Option<Value> {
    Some(match kind {
        Kind::Message(message) => {
            let name = message.full_name();
            if matches!(
                name,
                "google.protobuf.Any"
                    | "google.protobuf.Struct"
                    | "google.protobuf.Value"
                    | "google.protobuf.ListValue"
            ) {
                return None;
            }
            Value::Message(full_message(message, depth + 1))
        }
        // The first value that is not the "unspecified" zero, when there is one.
        Kind::Enum(enumeration) => Value::EnumNumber(
            enumeration
                .values()
                .map(|value| value.number())
                .find(|number| *number != 0)
                .unwrap_or(0),
        ),
        scalar => Value::default_value(scalar),
    })
}

fn map_key(kind: &Kind) -> Option<MapKey> {
    Some(match kind {
        Kind::String => MapKey::String("key".to_owned()),
        Kind::Bool => MapKey::Bool(false),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(0),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(0),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(0),
        Kind::Uint64 | Kind::Fixed64 => MapKey::U64(0),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::routes::DESCRIPTOR_SETS;

    fn pool() -> DescriptorPool {
        let mut pool = DescriptorPool::new();
        for set in DESCRIPTOR_SETS {
            pool.decode_file_descriptor_set(set).unwrap();
        }
        pool
    }

    #[test]
    fn every_method_has_an_example_its_input_type_reads() {
        let pool = pool();
        let schema = schema(&pool, false).unwrap();
        let mut methods = 0;
        for service in schema["services"].as_array().unwrap() {
            for method in service["methods"].as_array().unwrap() {
                let input = pool
                    .get_message_by_name(method["input"].as_str().unwrap())
                    .unwrap();
                let example: Json =
                    serde_json::from_str(method["example"].as_str().unwrap()).unwrap();
                let example = &example;
                DynamicMessage::deserialize(input.clone(), example)
                    .unwrap_or_else(|err| panic!("{}: {err}: {example}", method["path"]));
                // Every field is there (but the other members of a oneof).
                let fields = &schema["messages"][input.full_name()]["fields"];
                for field in fields.as_array().unwrap() {
                    let in_oneof = !field["oneof"].is_null();
                    let name = field["jsonName"].as_str().unwrap();
                    assert!(
                        in_oneof || example.get(name).is_some(),
                        "{}: {name} missing from {example}",
                        method["path"]
                    );
                }
                methods += 1;
            }
        }
        assert!(methods >= 39, "{methods} methods");
    }

    #[test]
    fn curated_examples_name_real_methods_and_win_over_defaults() {
        let pool = pool();
        let schema = schema(&pool, true).unwrap();
        assert_eq!(schema["auth"], true);
        let method = |path: &str| {
            schema["services"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|service| service["methods"].as_array().unwrap())
                .find(|method| method["path"] == path)
                .cloned()
        };
        let curated: HashMap<String, Json> = serde_json::from_str(EXAMPLES).unwrap();
        for path in curated.keys() {
            assert!(
                method(path).is_some(),
                "examples.json names no method {path}"
            );
        }
        let predict = method("/model.ModelInference/Predict").unwrap();
        assert_eq!(predict["kind"], "unary");
        let example = |method: &Json| -> Json {
            serde_json::from_str(method["example"].as_str().unwrap()).unwrap()
        };
        // In proto order.
        assert_eq!(
            predict["example"],
            r#"{"modelId":"iris","inputs":[5.1,3.5,1.4,0.2]}"#
        );
        assert!(
            predict["comment"]
                .as_str()
                .unwrap()
                .starts_with("A unary RPC: runs one model"),
            "{predict}"
        );
        let frames = method("/video.VideoProcessing/ProcessFrames").unwrap();
        assert_eq!(frames["kind"], "bidi_streaming");
        // The oneof holds the curated member only.
        assert_eq!(example(&frames)["config"]["filter"], "edges");
        assert!(example(&frames).get("frame").is_none());
        // Enums list their values, with comments.
        let encoding = &schema["enums"]["video.Encoding"]["values"];
        assert_eq!(encoding[1]["name"], "ENCODING_JPEG");
        assert_eq!(
            encoding[1]["comment"],
            "A JPEG file (baseline or progressive)."
        );
        // A map field gives its key and value types.
        let params = schema["messages"]["video.StreamConfig"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|field| field["name"] == "params")
            .unwrap()
            .clone();
        assert_eq!(params["label"], "map");
        assert_eq!(
            (params["key"].clone(), params["value"].clone()),
            ("string".into(), "double".into())
        );
    }
}
