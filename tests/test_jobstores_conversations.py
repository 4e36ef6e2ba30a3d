"""analyze_conversation against a real Redis: the seed's numbers, every way a stored value can
be unreadable, and the runaway signals on OpenAI- and Anthropic-shaped conversations."""

import json
import os
import socket
import time
import uuid

import pytest
import redis

from jobstores.conversations import analyze_conversation
from tests.paging_fakes import private_redis


@pytest.fixture
def client():
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    prefix = f"vigil-test:{uuid.uuid4().hex}:conv:"
    client.prefix = prefix
    yield client
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)
    client.close()


def store(client, value, conv_id="c1"):
    client.set(
        client.prefix + conv_id, value if isinstance(value, bytes | str) else json.dumps(value)
    )
    return conv_id


def analyze(client, conv_id="c1", **kwargs):
    return analyze_conversation(client, conv_id, key_prefix=client.prefix, **kwargs)


def openai_call(name, arguments):
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"call_{uuid.uuid4().hex[:8]}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }


def tool_result(text="ok"):
    return {"role": "tool", "tool_call_id": "call_x", "content": text}


def anthropic_call(name, arguments):
    return {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me look"},
            {"type": "tool_use", "id": "toolu_1", "name": name, "input": arguments},
        ],
    }


def anthropic_result(text="ok"):
    return {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": text}],
    }


def kinds(result):
    return [signal["kind"] for signal in result["runaway"]["signals"]]


def test_it_counts_messages_and_tokens_like_the_seed(client):
    messages = [
        {"role": "system", "content": "You are helpful"},
        {"role": "user", "content": "Where is my order 1234"},
        {"role": "assistant", "content": "Let me check that for you"},
        {"role": "user", "content": "thanks"},
        {"role": "assistant", "content": "It ships today"},
        {"role": "user", "content": "great"},
    ]
    store(client, messages)
    result = analyze(client)
    assert result["total_messages"] == 6
    assert result["user_messages"] == 3
    assert result["assistant_messages"] == 2
    # The seed's sum of len(content.split()) * 1.3, float and all.
    assert result["estimated_tokens"] == sum(len(m["content"].split()) * 1.3 for m in messages)
    assert isinstance(result["estimated_tokens"], float)
    assert result["sample_messages"] == messages[-5:]
    assert result["runaway"] == {"signals": [], "tool_calls": 0, "tools": {}}


def test_it_counts_the_words_of_text_blocks_only(client):
    store(
        client,
        [
            {"role": "user", "content": [{"type": "text", "text": "one two three"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "four five"},
                    {"type": "tool_use", "id": "t", "name": "search", "input": {"q": "a b c d"}},
                    {"type": "image", "source": {"data": "x y z"}},
                ],
            },
            {"role": "assistant", "content": None, "tool_calls": []},
            {"role": "user"},
        ],
    )
    result = analyze(client)
    assert result["estimated_tokens"] == 3 * 1.3 + 2 * 1.3
    assert result["total_messages"] == 4


def test_it_says_the_seeds_not_found(client):
    assert analyze(client, "nobody") == {"error": "Conversation not found"}
    store(client, b"", "empty")
    assert analyze(client, "empty") == {"error": "Conversation not found"}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe[]", "not JSON"),
        (b'{"messages": []}', "not a list of messages"),
        (b"42", "not a list of messages"),
        (b'[{"role": "user", "content": "hi"}, "hello"]', "Message 2 of the conversation"),
        (b"[null]", "is not an object (it is null)"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"[" + b"9" * 5000 + b"]", "not JSON"),
    ],
)
def test_it_explains_a_value_it_cannot_read(client, value, reason):
    store(client, value)
    result = analyze(client)
    assert set(result) == {"error"}
    assert reason in result["error"]


def test_it_explains_a_key_of_another_type(client):
    client.hset(client.prefix + "h", "role", "user")
    assert analyze(client, "h") == {
        "error": "The conversation key holds a hash, not a JSON string."
    }
    client.rpush(client.prefix + "l", "x")
    assert "holds a list" in analyze(client, "l")["error"]


def test_it_refuses_a_value_over_max_bytes_without_reading_it(client):
    store(client, [{"role": "user", "content": "word " * 100}])
    result = analyze(client, max_bytes=100)
    assert "more than the 100 Vigil reads" in result["error"]
    assert analyze(client, max_bytes=10_000)["total_messages"] == 1


def test_it_reads_a_value_of_exactly_max_bytes(client):
    value = json.dumps([{"role": "user", "content": "x"}]).encode()
    store(client, value)
    assert analyze(client, max_bytes=len(value))["total_messages"] == 1
    assert "error" in analyze(client, max_bytes=len(value) - 1)


def test_it_rejects_an_empty_id(client):
    assert analyze(client, "") == {"error": "No conversation id given."}


def test_it_sees_an_openai_agent_calling_one_tool_again_and_again(client):
    messages = [{"role": "user", "content": "find the invoice"}]
    for page in range(6):
        messages += [openai_call("search", {"page": page}), tool_result()]
    store(client, messages)
    runaway = analyze(client)["runaway"]
    assert runaway["tool_calls"] == 6
    assert runaway["tools"] == {"search": 6}
    [signal] = runaway["signals"]
    assert signal["kind"] == "tool_loop"
    assert signal["tool"] == "search"
    assert signal["times"] == 6
    assert "search was called 6 times in a row" in signal["detail"]


def test_four_calls_in_a_row_are_not_a_loop(client):
    messages = []
    for page in range(4):
        messages += [openai_call("search", {"page": page}), tool_result()]
    store(client, messages)
    assert kinds(analyze(client)) == []


def test_it_sees_the_same_call_three_times_even_apart(client):
    messages = []
    for other in ("read", "write", "read"):
        # Spacing differs between the stored JSON strings: still the same arguments.
        call = openai_call("lookup", {"id": 7, "full": True})
        if other == "write":
            call["tool_calls"][0]["function"]["arguments"] = '{"full":true,   "id":7}'
        messages += [call, tool_result(), openai_call(other, {"n": len(messages)}), tool_result()]
    store(client, messages)
    signals = analyze(client)["runaway"]["signals"]
    loops = [s for s in signals if s["kind"] == "tool_loop"]
    assert len(loops) == 1
    assert loops[0]["tool"] == "lookup"
    assert loops[0]["times"] == 3
    assert loops[0]["arguments"] == '{"full": true, "id": 7}'
    assert "same arguments" in loops[0]["detail"]


def test_two_identical_calls_are_not_a_loop(client):
    store(client, [openai_call("lookup", {"id": 1}), openai_call("lookup", {"id": 1})])
    assert analyze(client)["runaway"]["signals"] == []


def test_it_reads_the_older_function_call(client):
    messages = [
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": "weather", "arguments": "{}"},
        },
        {"role": "function", "name": "weather", "content": "sunny"},
    ] * 3
    store(client, messages)
    runaway = analyze(client)["runaway"]
    assert runaway["tools"] == {"weather": 3}
    assert [s["tool"] for s in runaway["signals"]] == ["weather"]


def test_it_reads_responses_api_items_and_custom_tool_calls(client):
    messages = [
        {"type": "function_call", "call_id": "c1", "name": "fetch", "arguments": '{"url": "a"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "page"},
        {
            "role": "assistant",
            "tool_calls": [{"type": "custom", "custom": {"name": "sh", "input": "ls"}}],
        },
    ]
    store(client, messages)
    assert analyze(client)["runaway"]["tools"] == {"fetch": 1, "sh": 1}


def test_it_sees_two_anthropic_tools_calling_each_other(client):
    messages = [{"role": "user", "content": "plan my trip"}]
    for turn in range(4):
        messages += [anthropic_call("plan", {"step": turn}), anthropic_result()]
        messages += [anthropic_call("check", {"step": turn}), anthropic_result()]
    store(client, messages)
    result = analyze(client)
    assert result["runaway"]["tools"] == {"check": 4, "plan": 4}
    [signal] = result["runaway"]["signals"]
    assert signal["kind"] == "tool_recursion"
    assert signal["tools"] == ["plan", "check"]
    assert signal["cycles"] == 4
    assert "plan → check → plan" in signal["detail"]
    # Text blocks of the tool-use turns count, tool_result blocks do not.
    assert result["estimated_tokens"] == pytest.approx((3 + 8 * 3) * 1.3)


def test_one_and_a_half_cycles_are_not_recursion(client):
    store(client, [anthropic_call("a", {}), anthropic_call("b", {}), anthropic_call("a", {"x": 1})])
    assert kinds(analyze(client)) == []
    assert kinds(analyze(client, recursion_cycles=1)) == ["tool_recursion"]


def test_it_sees_history_growing_without_bound(client):
    messages = [
        {"role": "user" if i % 2 else "assistant", "content": "hello there"} for i in range(201)
    ]
    store(client, messages)
    result = analyze(client)
    [signal] = result["runaway"]["signals"]
    assert signal["kind"] == "unbounded_history"
    assert signal["messages"] == 201
    assert analyze(client, max_messages=201)["runaway"]["signals"] == []


def test_it_sees_a_history_over_its_token_budget(client):
    store(client, [{"role": "user", "content": "word " * 1000}])
    [signal] = analyze(client, token_budget=1000)["runaway"]["signals"]
    assert signal["kind"] == "unbounded_history"
    assert signal["estimated_tokens"] == 1300
    assert analyze(client, token_budget=1300)["runaway"]["signals"] == []


def test_malformed_tool_calls_are_ignored_not_fatal(client):
    store(
        client,
        [
            {"role": "assistant", "tool_calls": "search"},
            {
                "role": "assistant",
                "tool_calls": [None, {"function": "x"}, {"function": {"name": 3}}],
            },
            {"role": "assistant", "tool_calls": [{"function": {"name": "s", "arguments": "{bad"}}]},
            {"role": "assistant", "content": [{"type": "tool_use"}, 7, None]},
            {"role": ["user"], "content": {"text": "dict content"}},
        ],
    )
    result = analyze(client)
    assert result["runaway"]["tools"] == {"s": 1}
    assert result["total_messages"] == 5
    assert result["user_messages"] == 0


def test_it_reads_a_conversation_whose_key_has_a_hash_tag(client):
    # Cluster deployments put a tenant's keys in one slot with a {hash tag}.
    store(client, [{"role": "user", "content": "hi"}], "{tenant-1}:c9")
    assert analyze(client, "{tenant-1}:c9")["total_messages"] == 1


@pytest.fixture(scope="module")
def private_client():
    """A redis-server of the test's own for the big values."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with private_redis(port):
        client = redis.Redis(port=port)
        client.prefix = "conv:"
        yield client
        client.close()


def test_it_analyses_an_eight_megabyte_conversation_in_a_second(private_client):
    client = private_client
    chunk = [openai_call("search", {"q": "x" * 200}), tool_result("y " * 400)]
    messages = chunk * (8_000_000 // (len(json.dumps(chunk)) + 2))
    store(client, messages)
    assert client.strlen("conv:c1") <= 8_388_608
    started = time.perf_counter()
    result = analyze(client)
    elapsed = time.perf_counter() - started
    assert result["total_messages"] == len(messages)
    assert "tool_loop" in kinds(result)
    assert "unbounded_history" in kinds(result)
    assert elapsed < 2.0, f"took {elapsed:.2f}s"


def test_it_refuses_a_nine_megabyte_conversation_by_its_length(private_client):
    client = private_client
    client.set("conv:big", b"[" + b'{"role": "user", "content": "x"},' * 300_000 + b"{}]")
    started = time.perf_counter()
    result = analyze(client, "big")
    assert "more than the 8,388,608 Vigil reads" in result["error"]
    assert time.perf_counter() - started < 0.2
