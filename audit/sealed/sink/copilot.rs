//! GitHub Copilot's way to its model: the CLI first asks GitHub who the user is and which Copilot
//! endpoints serve them, then lists the models, and only then posts a chat or responses request. These
//! lookups are the model vendor's own path to the model (no turn without them), so the sink answers
//! them as it answers the model itself; everything else on those hosts stays the agent's initiative.

use serde_json::{Value, json};

/// The endpoints the emulated user is served by: the sink answers them all (every name is local).
const API: &str = "https://api.individual.githubcopilot.com";

/// The reply to a Copilot lookup (`name`, JSON body), or None when the path is not one.
pub fn reply(method: &str, path: &str) -> Option<(&'static str, Value)> {
    if method != "GET" {
        return None;
    }
    let path = path.trim_end_matches('/');
    if path.ends_with("/copilot_internal/user") {
        return Some(("copilot.user", user()));
    }
    if path.ends_with("/copilot_internal/v2/token") {
        return Some(("copilot.token", token()));
    }
    // Only the bare `/models` of a Copilot API host: `/v1/models` of other vendors stays unanswered.
    if path == "/models" {
        return Some(("copilot.models", models()));
    }
    None
}

fn endpoints() -> Value {
    json!({
        "api": API,
        "proxy": "https://proxy.individual.githubcopilot.com",
        "telemetry": "https://telemetry.individual.githubcopilot.com",
        "origin-tracker": "https://origin-tracker.individual.githubcopilot.com"
    })
}

fn user() -> Value {
    json!({
        "login": "sealed",
        "access_type_sku": "monthly_subscriber",
        "copilot_plan": "individual",
        "chat_enabled": true,
        "is_mcp_enabled": false,
        "analytics_tracking_id": "sealed",
        "assigned_date": null,
        "can_signup_for_limited": false,
        "organization_login_list": [],
        "endpoints": endpoints()
    })
}

fn token() -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    json!({
        "token": format!("tid=sealed;exp={};sku=monthly_subscriber;chat=1", now + 1800),
        "expires_at": now + 1800,
        "refresh_in": 1500,
        "chat_enabled": true,
        "sku": "monthly_subscriber",
        "endpoints": endpoints()
    })
}

/// Copilot routes each model to the API its vendor speaks.
fn endpoints_for(vendor: &str) -> Value {
    if vendor == "Anthropic" {
        json!(["/chat/completions", "/v1/messages"])
    } else {
        json!(["/chat/completions", "/responses"])
    }
}

fn model(id: &str, family: &str, vendor: &str) -> Value {
    json!({
        "id": id,
        "name": id,
        "object": "model",
        "vendor": vendor,
        "version": id,
        "preview": false,
        "model_picker_enabled": true,
        "is_chat_default": id == "gpt-4.1",
        "is_chat_fallback": id == "gpt-4.1",
        "policy": {"state": "enabled", "terms": ""},
        "billing": {"is_premium": false, "multiplier": 0},
        "model_picker_category": "versatile",
        "capabilities": {
            "family": family,
            "type": "chat",
            "object": "model_capabilities",
            "tokenizer": "o200k_base",
            "limits": {"max_context_window_tokens": 128000, "max_output_tokens": 16384, "max_prompt_tokens": 128000},
            "supports": {"streaming": true, "tool_calls": true, "parallel_tool_calls": true, "vision": false, "structured_outputs": true}
        },
        "supported_endpoints": endpoints_for(vendor)
    })
}

fn models() -> Value {
    json!({
        "object": "list",
        "data": [
            model("gpt-4.1", "gpt-4.1", "Azure OpenAI"),
            model("gpt-5", "gpt-5", "Azure OpenAI"),
            model("claude-sonnet-4.5", "claude-sonnet-4.5", "Anthropic"),
            model("claude-sonnet-4", "claude-sonnet-4", "Anthropic")
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_only_the_lookups() {
        assert_eq!(reply("GET", "/copilot_internal/user").map(|r| r.0), Some("copilot.user"));
        assert_eq!(reply("GET", "/copilot_internal/v2/token").map(|r| r.0), Some("copilot.token"));
        assert_eq!(reply("GET", "/models").map(|r| r.0), Some("copilot.models"));
        assert!(reply("GET", "/v1/models").is_none());
        assert!(reply("POST", "/copilot_internal/user").is_none());
        assert!(reply("GET", "/telemetry").is_none());
        let user = reply("GET", "/copilot_internal/user").unwrap().1;
        assert_eq!(user["endpoints"]["api"], API);
    }
}
