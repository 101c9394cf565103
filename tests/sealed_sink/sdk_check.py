"""Drives the vendors' real Python SDKs against the sealed sink: one non-streaming and one streaming call
per API, each of which must read the emulated answer. Prints one JSON line per call; exits 1 on any failure.

Usage: sdk_check.py BASE_URL CA_PEM   (BASE_URL like https://localhost:PORT)
"""
import json
import ssl
import sys
import traceback

base, ca = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
results = []


def check(name, fn):
    try:
        text = fn()
        results.append({"call": name, "ok": text == "OK", "text": text})
    except Exception as e:  # noqa: BLE001 - every failure is reported with its call
        results.append({"call": name, "ok": False, "error": repr(e), "trace": traceback.format_exc()})


import anthropic  # noqa: E402

a = anthropic.Anthropic(api_key="sk-ant-fake", base_url=base, max_retries=0,
                        http_client=anthropic.DefaultHttpxClient(verify=ctx))
msgs = [{"role": "user", "content": "hi"}]
check("anthropic.messages", lambda: a.messages.create(model="claude-sdk-test", max_tokens=8, messages=msgs).content[0].text)


def anthropic_stream():
    with a.messages.stream(model="claude-sdk-test", max_tokens=8, messages=msgs) as s:
        return s.get_final_text()


check("anthropic.messages.stream", anthropic_stream)


def anthropic_raw_stream():
    text = "".join(e.delta.text for e in a.messages.create(model="claude-sdk-test", max_tokens=8, messages=msgs,
                                                         stream=True) if e.type == "content_block_delta")
    return text


check("anthropic.messages.stream_events", anthropic_raw_stream)
check("anthropic.count_tokens",
      lambda: "OK" if a.messages.count_tokens(model="claude-sdk-test", messages=msgs).input_tokens > 0 else "zero")

import openai  # noqa: E402

o = openai.OpenAI(api_key="sk-fake", base_url=base + "/v1", max_retries=0,
                  http_client=openai.DefaultHttpxClient(verify=ctx))
check("openai.responses", lambda: o.responses.create(model="gpt-sdk-test", input="hi").output_text)


def responses_stream():
    parts, final = [], None
    for e in o.responses.create(model="gpt-sdk-test", input="hi", stream=True):
        if e.type == "response.output_text.delta":
            parts.append(e.delta)
        if e.type == "response.completed":
            final = e.response
    assert final is not None and final.usage.total_tokens > 0, "no response.completed with usage"
    assert final.output_text == "OK", final.output_text
    return "".join(parts)


check("openai.responses.stream", responses_stream)


def responses_helper_stream():
    with o.responses.stream(model="gpt-sdk-test", input="hi") as s:
        return s.get_final_response().output_text


check("openai.responses.stream_helper", responses_helper_stream)
check("openai.chat",
      lambda: o.chat.completions.create(model="gpt-sdk-test", messages=msgs).choices[0].message.content)


def chat_stream():
    chunks = list(o.chat.completions.create(model="gpt-sdk-test", messages=msgs, stream=True,
                                            stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0, "no usage chunk"
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


check("openai.chat.stream", chat_stream)

from google import genai  # noqa: E402
from google.genai import types  # noqa: E402

g = genai.Client(api_key="fake-gemini-key", http_options=types.HttpOptions(base_url=base + "/"))
check("gemini.generate_content", lambda: g.models.generate_content(model="gemini-sdk-test", contents="hi").text)
check("gemini.count_tokens",
      lambda: "OK" if g.models.count_tokens(model="gemini-sdk-test", contents="hi").total_tokens > 0 else "zero")
check("gemini.stream",
      lambda: "".join(c.text or "" for c in g.models.generate_content_stream(model="gemini-sdk-test", contents="hi")))

for r in results:
    print(json.dumps(r))
sys.exit(0 if results and all(r["ok"] for r in results) else 1)
