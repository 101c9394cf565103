//! The sink plays the model: minimal valid replies for the model APIs agents call, matched by path
//! whatever the host (agents use custom base URLs), so an agent completes a real turn and shows what it
//! sends after a reply. The answer is always "OK" with plausible usage counts and the requested model.
//!
//! Replies stay minimal on purpose: every field an emulation invents can steer an agent.

use serde_json::{Value, json};

/// Text of every emulated answer.
pub const ANSWER: &str = "OK";

/// What an emulation answers.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Which emulation answered: logged with the request.
    pub name: &'static str,
    pub model: Option<String>,
}

/// The parts of a request an emulation decides on.
pub struct Request<'a> {
    pub method: &'a str,
    /// Path without the query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// `Upgrade: websocket` (HTTP/1.1) or an extended CONNECT for websocket (HTTP/2).
    pub websocket: bool,
    /// The body as read (bounded; may be cut short).
    pub body: &'a [u8],
    /// The body's last bytes when it was cut short (long contexts outgrow the buffer; SDKs often put
    /// `"stream": true` last).
    pub tail: &'a [u8],
    /// Body size as sent, for the usage counts.
    pub size: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Api {
    AnthropicMessages,
    AnthropicCountTokens,
    OpenAiResponses,
    OpenAiChat,
    Gemini { stream: bool, code_assist: bool },
    GeminiCountTokens,
}

fn api_for(path: &str) -> Option<Api> {
    let path = path.trim_end_matches('/');
    if path.ends_with("/v1/messages") {
        return Some(Api::AnthropicMessages);
    }
    if path.ends_with("/v1/messages/count_tokens") {
        return Some(Api::AnthropicCountTokens);
    }
    if path.ends_with("/responses") {
        return Some(Api::OpenAiResponses);
    }
    if path.ends_with("/chat/completions") {
        return Some(Api::OpenAiChat);
    }
    let (head, method) = path.rsplit_once(':')?;
    let code_assist = head.ends_with("/v1internal");
    let model_path = head.rsplit_once('/').is_some_and(|(prefix, _model)| prefix.ends_with("/models"));
    if !code_assist && !model_path {
        return None;
    }
    match method {
        "generateContent" => Some(Api::Gemini { stream: false, code_assist }),
        "streamGenerateContent" => Some(Api::Gemini { stream: true, code_assist }),
        // Code Assist answers countTokens unwrapped, like the public API.
        "countTokens" => Some(Api::GeminiCountTokens),
        _ => None,
    }
}

/// The emulated reply, or `None` when no emulation covers the request.
pub fn reply(req: &Request<'_>) -> Option<Reply> {
    if req.websocket {
        // Codex tries a WebSocket first; a refusal makes it fall back to plain HTTP requests.
        let body = json!({"error": {"type": "upgrade_required", "message": "use HTTP"}});
        return Some(Reply {
            status: 426,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
            name: "websocket_refused",
            model: None,
        });
    }
    if let Some((name, value)) = super::copilot::reply(req.method, req.path) {
        return Some(json_reply(name, value, None));
    }
    if req.method != "POST" {
        return None;
    }
    let api = api_for(req.path)?;
    let parsed: Value = serde_json::from_slice(req.body).unwrap_or(Value::Null);
    let (stream, body_model) = match &parsed {
        Value::Object(_) => (
            parsed.get("stream").and_then(Value::as_bool).unwrap_or(false),
            parsed.get("model").and_then(Value::as_str).map(|m| m.chars().take(200).collect::<String>()),
        ),
        // A body cut short is no JSON document: look for the two fields in what we have of it.
        _ => (
            [req.body, req.tail].iter().any(|b| json_true(b, "stream")),
            [req.body, req.tail].iter().find_map(|b| json_string(b, "model")),
        ),
    };
    // A rough tokenizer: about four bytes per token, as vendors' own estimates go.
    let input_tokens = (req.size.max(req.body.len() as u64) / 4).max(1);
    let reply = match api {
        Api::AnthropicMessages => {
            let model = body_model.unwrap_or_else(|| "claude".into());
            if stream {
                sse("anthropic.messages.stream", anthropic_stream(&model, input_tokens), Some(model))
            } else {
                json_reply("anthropic.messages", anthropic_message(&model, input_tokens, 1), Some(model))
            }
        }
        Api::AnthropicCountTokens => {
            json_reply("anthropic.count_tokens", json!({"input_tokens": input_tokens}), body_model)
        }
        Api::OpenAiResponses => {
            let model = body_model.unwrap_or_else(|| "gpt".into());
            if stream {
                sse("openai.responses.stream", responses_stream(&model, input_tokens), Some(model))
            } else {
                json_reply("openai.responses", response_object(&model, input_tokens, true), Some(model))
            }
        }
        Api::OpenAiChat => {
            let model = body_model.unwrap_or_else(|| "gpt".into());
            if stream {
                let usage = parsed.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
                sse("openai.chat.stream", chat_stream(&model, input_tokens, usage), Some(model))
            } else {
                json_reply("openai.chat", chat_completion(&model, input_tokens), Some(model))
            }
        }
        Api::GeminiCountTokens => json_reply("gemini.count_tokens", json!({"totalTokens": input_tokens}), None),
        Api::Gemini { stream: streaming, code_assist } => {
            let model = if code_assist {
                body_model.unwrap_or_else(|| "gemini".into())
            } else {
                gemini_model_from_path(req.path)
            };
            let mut chunk = gemini_response(&model, input_tokens);
            if code_assist {
                chunk = json!({ "response": chunk });
            }
            let alt_sse = req.query.is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
            match (streaming, alt_sse, code_assist) {
                (false, _, false) => json_reply("gemini.generate_content", chunk, Some(model)),
                (false, _, true) => json_reply("gemini.code_assist.generate_content", chunk, Some(model)),
                (true, true, ca) => {
                    let name = if ca { "gemini.code_assist.stream_sse" } else { "gemini.stream_sse" };
                    let text = format!("data: {chunk}\r\n\r\n");
                    Reply {
                        status: 200,
                        content_type: "text/event-stream",
                        body: text.into_bytes(),
                        name,
                        model: Some(model),
                    }
                }
                (true, false, ca) => {
                    let name = if ca { "gemini.code_assist.stream_json" } else { "gemini.stream_json" };
                    json_reply(name, Value::Array(vec![chunk]), Some(model))
                }
            }
        }
    };
    Some(reply)
}

/// Whether `"key": true` appears in `body` (whitespace allowed around the colon).
fn json_true(body: &[u8], key: &str) -> bool {
    value_after(body, key).is_some_and(|v| v.starts_with(b"true"))
}

/// The string value of `"key": "..."` in `body`, if it has no escapes.
fn json_string(body: &[u8], key: &str) -> Option<String> {
    let v = value_after(body, key)?.strip_prefix(b"\"")?;
    let end = v.iter().take(200).position(|&b| b == b'"' || b == b'\\')?;
    (v[end] == b'"').then(|| String::from_utf8_lossy(&v[..end]).into_owned())
}

fn value_after<'b>(body: &'b [u8], key: &str) -> Option<&'b [u8]> {
    let needle = format!("\"{key}\"");
    let mut rest = body;
    while let Some(at) = memchr::memmem::find(rest, needle.as_bytes()) {
        let after = rest[at + needle.len()..].trim_ascii_start();
        if let Some(v) = after.strip_prefix(b":") {
            return Some(v.trim_ascii_start());
        }
        rest = &rest[at + needle.len()..];
    }
    None
}

fn json_reply(name: &'static str, value: Value, model: Option<String>) -> Reply {
    Reply { status: 200, content_type: "application/json", body: value.to_string().into_bytes(), name, model }
}

/// Server-sent events: `event:` lines where the API names its events, else only `data:`.
fn sse(name: &'static str, events: Vec<(Option<&'static str>, Value)>, model: Option<String>) -> Reply {
    let mut text = String::new();
    for (event, data) in events {
        if let Some(e) = event {
            text.push_str("event: ");
            text.push_str(e);
            text.push('\n');
        }
        text.push_str("data: ");
        text.push_str(&data.to_string());
        text.push_str("\n\n");
    }
    if name == "openai.chat.stream" {
        text.push_str("data: [DONE]\n\n");
    }
    Reply { status: 200, content_type: "text/event-stream", body: text.into_bytes(), name, model }
}

/// Ids that say where they came from, unique enough within a run.
fn id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}sealed{:012}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn anthropic_usage(input: u64, output: u64) -> Value {
    json!({"input_tokens": input, "output_tokens": output, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
}

fn anthropic_message(model: &str, input: u64, output: u64) -> Value {
    json!({
        "id": id("msg_"), "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": ANSWER}],
        "stop_reason": "end_turn", "stop_sequence": null, "usage": anthropic_usage(input, output),
    })
}

fn anthropic_stream(model: &str, input: u64) -> Vec<(Option<&'static str>, Value)> {
    let mut start = anthropic_message(model, input, 1);
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    vec![
        (Some("message_start"), json!({"type": "message_start", "message": start})),
        (
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ANSWER}}),
        ),
        (Some("content_block_stop"), json!({"type": "content_block_stop", "index": 0})),
        (
            Some("message_delta"),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                   "usage": {"output_tokens": 1}}),
        ),
        (Some("message_stop"), json!({"type": "message_stop"})),
    ]
}

fn output_message(item_id: &str, done: bool) -> Value {
    let content = if done { json!([output_text(ANSWER)]) } else { json!([]) };
    json!({"type": "message", "id": item_id, "status": if done { "completed" } else { "in_progress" },
           "role": "assistant", "content": content})
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

fn response_object(model: &str, input: u64, done: bool) -> Value {
    response_with(model, input, done, &id("resp_"), &id("msg_"))
}

fn response_with(model: &str, input: u64, done: bool, resp_id: &str, item_id: &str) -> Value {
    let mut r = json!({
        "id": resp_id, "object": "response", "created_at": unix_now(), "model": model,
        "status": if done { "completed" } else { "in_progress" },
        "output": if done { json!([output_message(item_id, true)]) } else { json!([]) },
        "error": null, "incomplete_details": null, "instructions": null, "metadata": {},
        "parallel_tool_calls": true, "temperature": 1.0, "top_p": 1.0, "tool_choice": "auto", "tools": [],
        "text": {"format": {"type": "text"}}, "truncation": "disabled", "store": false,
    });
    r["usage"] = if done {
        json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 1,
               "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": input + 1})
    } else {
        Value::Null
    };
    r
}

fn responses_stream(model: &str, input: u64) -> Vec<(Option<&'static str>, Value)> {
    let resp_id = id("resp_");
    let item = id("msg_");
    let events: Vec<(&'static str, Value)> = vec![
        ("response.created", json!({"response": response_with(model, input, false, &resp_id, &item)})),
        ("response.in_progress", json!({"response": response_with(model, input, false, &resp_id, &item)})),
        ("response.output_item.added", json!({"output_index": 0, "item": output_message(&item, false)})),
        (
            "response.content_part.added",
            json!({"item_id": item, "output_index": 0, "content_index": 0, "part": output_text("")}),
        ),
        (
            "response.output_text.delta",
            json!({"item_id": item, "output_index": 0, "content_index": 0, "delta": ANSWER, "logprobs": []}),
        ),
        (
            "response.output_text.done",
            json!({"item_id": item, "output_index": 0, "content_index": 0, "text": ANSWER, "logprobs": []}),
        ),
        (
            "response.content_part.done",
            json!({"item_id": item, "output_index": 0, "content_index": 0, "part": output_text(ANSWER)}),
        ),
        ("response.output_item.done", json!({"output_index": 0, "item": output_message(&item, true)})),
        ("response.completed", json!({"response": response_with(model, input, true, &resp_id, &item)})),
    ];
    events
        .into_iter()
        .enumerate()
        .map(|(seq, (event, mut data))| {
            data["type"] = json!(event);
            data["sequence_number"] = json!(seq);
            (Some(event), data)
        })
        .collect()
}

fn chat_usage(input: u64) -> Value {
    json!({"prompt_tokens": input, "completion_tokens": 1, "total_tokens": input + 1})
}

fn chat_completion(model: &str, input: u64) -> Value {
    json!({
        "id": id("chatcmpl-"), "object": "chat.completion", "created": unix_now(), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER, "refusal": null},
                     "logprobs": null, "finish_reason": "stop"}],
        "usage": chat_usage(input),
    })
}

fn chat_stream(model: &str, input: u64, usage: bool) -> Vec<(Option<&'static str>, Value)> {
    let chunk_id = id("chatcmpl-");
    let created = unix_now();
    let chunk = |delta: Value, finish: Value| {
        json!({"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    };
    let mut out = vec![
        (None, chunk(json!({"role": "assistant", "content": ""}), Value::Null)),
        (None, chunk(json!({"content": ANSWER}), Value::Null)),
        (None, chunk(json!({}), json!("stop"))),
    ];
    if usage {
        out.push((
            None,
            json!({"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [], "usage": chat_usage(input)}),
        ));
    }
    out
}

fn gemini_model_from_path(path: &str) -> String {
    let head = path.rsplit_once(':').map_or(path, |(h, _)| h);
    head.rsplit_once('/').map_or(head, |(_, m)| m).chars().take(200).collect()
}

fn gemini_response(model: &str, input: u64) -> Value {
    json!({
        "candidates": [{"content": {"parts": [{"text": ANSWER}], "role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": input, "candidatesTokenCount": 1, "totalTokenCount": input + 1},
        "modelVersion": model,
        "responseId": id("gemini-"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(path: &str, body: &str) -> Option<Reply> {
        let (path, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
        reply(&Request { method: "POST", path, query, websocket: false, body: body.as_bytes(), tail: b"", size: 0 })
    }

    #[test]
    fn paths_select_the_api_whatever_the_prefix() {
        let cases = [
            ("/v1/messages", "anthropic.messages"),
            ("/proxy/anthropic/v1/messages", "anthropic.messages"),
            ("/v1/messages/count_tokens", "anthropic.count_tokens"),
            ("/v1/responses", "openai.responses"),
            ("/backend-api/codex/responses", "openai.responses"),
            ("/v1/chat/completions", "openai.chat"),
            ("/v1beta/models/gemini-2.5-pro:generateContent", "gemini.generate_content"),
            ("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", "gemini.stream_sse"),
            ("/v1beta/models/gemini-2.5-pro:streamGenerateContent", "gemini.stream_json"),
            ("/v1internal:generateContent", "gemini.code_assist.generate_content"),
            ("/v1internal:streamGenerateContent?alt=sse", "gemini.code_assist.stream_sse"),
            ("/v1beta/models/gemini-2.5-pro:countTokens", "gemini.count_tokens"),
            ("/v1internal:countTokens", "gemini.count_tokens"),
        ];
        for (path, name) in cases {
            assert_eq!(post(path, "{}").map(|r| r.name), Some(name), "{path}");
        }
        for path in [
            "/api/event_logging/v2/batch",
            "/v1/models",
            "/models/x:embedContent",
            "/v1internal:loadCodeAssist",
            "/",
            ":generateContent",
        ] {
            assert!(post(path, "{}").is_none(), "{path}");
        }
        let get = reply(&Request {
            method: "GET",
            path: "/v1/messages",
            query: None,
            websocket: false,
            body: b"",
            tail: b"",
            size: 0,
        });
        assert!(get.is_none());
    }

    #[test]
    fn stream_flag_and_model_are_read_from_the_body() {
        let r = post("/v1/messages", r#"{"model":"claude-x-1","stream":true}"#).unwrap();
        assert_eq!(r.name, "anthropic.messages.stream");
        assert_eq!(r.model.as_deref(), Some("claude-x-1"));
        let text = String::from_utf8(r.body).unwrap();
        assert!(text.starts_with("event: message_start\ndata: "));
        assert!(text.contains("claude-x-1"));
        let r = post("/v1beta/models/gemini-q:generateContent", "{}").unwrap();
        assert_eq!(r.model.as_deref(), Some("gemini-q"));
        let r = post("/v1/chat/completions", r#"{"stream":true}"#).unwrap();
        assert!(String::from_utf8(r.body).unwrap().ends_with("data: [DONE]\n\n"));
    }

    #[test]
    fn a_body_cut_short_is_searched_for_stream_and_model() {
        let head = br#"{"model" : "claude-long-1","messages":[{"role":"user","content":"a \"stream\": false"#;
        let tail = br#"xxxxx"}],"max_tokens":5,"stream":true}"#;
        let req = Request {
            method: "POST",
            path: "/v1/messages",
            query: None,
            websocket: false,
            body: head,
            tail,
            size: 4 << 20,
        };
        let r = reply(&req).unwrap();
        assert_eq!(r.name, "anthropic.messages.stream");
        assert_eq!(r.model.as_deref(), Some("claude-long-1"));
        assert!(String::from_utf8(r.body).unwrap().contains(r#""input_tokens":1048576"#));
        assert!(!json_true(br#"{"stream":false}"#, "stream"));
        assert_eq!(json_string(br#""model":"a\"b""#, "model"), None);
        assert_eq!(json_string(br#""model":5"#, "model"), None);
    }

    #[test]
    fn garbage_bodies_still_get_a_reply() {
        for body in ["", "not json", "{\"stream\":", "[1,2]", "{\"model\":5,\"stream\":\"yes\"}"] {
            let r = post("/v1/messages", body).unwrap();
            assert_eq!(r.status, 200);
            assert_eq!(r.name, "anthropic.messages");
        }
    }
}
