"""The seed's analyze_conversation: what a conversation stored at conv:<id> holds, and whether
its agent is running away (calling one tool over and over, two tools calling each other, a
history that only grows). A pure read over a redis-py client (bytes, standalone or cluster).

Tool calls are read from the shapes agent platforms store:
- OpenAI chat messages: `tool_calls: [{"type": "function", "function": {"name", "arguments"}}]`
  where arguments is a JSON string, and the older `function_call: {"name", "arguments"}`;
- OpenAI Responses API items: `{"type": "function_call", "name", "arguments"}`;
- Anthropic messages: `content: [{"type": "tool_use", "name", "input": {...}}]` blocks.
"""

import json
from collections import Counter

import redis

# Each word counts as 1.3 tokens, as in the seed.
TOKENS_PER_WORD = 1.3
SAMPLE_SIZE = 5
# How much of a tool's arguments a signal shows.
ARGUMENTS_SHOWN = 200

NOT_FOUND = {"error": "Conversation not found"}


def analyze_conversation(
    client,
    conversation_id: str,
    *,
    key_prefix: str = "conv:",
    max_bytes: int = 8_388_608,
    loop_calls: int = 5,
    same_call_repeats: int = 3,
    recursion_cycles: int = 2,
    max_messages: int = 200,
    token_budget: int = 100_000,
) -> dict:
    """The seed's analysis of conv:<id> plus "runaway" signals; {"error": reason} for anything
    that is not a readable list of messages, never an exception about the data.

    Runaway thresholds: `loop_calls` consecutive calls of one tool, or `same_call_repeats`
    calls of one tool with the same arguments, are a tool_loop; A→B→A→B… for
    `recursion_cycles` full cycles is a tool_recursion; more than `max_messages` messages or
    more than `token_budget` estimated tokens is an unbounded_history. Connection failures
    raise redis.ConnectionError/TimeoutError for the caller to report the store unavailable.
    """
    if not isinstance(conversation_id, str) or not conversation_id:
        return {"error": "No conversation id given."}
    key = f"{key_prefix}{conversation_id}"
    try:
        raw = _read(client, key, max_bytes)
    except _Unreadable as exc:
        return {"error": str(exc)}
    if raw is None:
        return dict(NOT_FOUND)
    try:
        messages = json.loads(raw)
    except RecursionError:
        return {"error": "The conversation is nested too deeply to read."}
    except ValueError:  # not JSON, not UTF-8, or a number too long to read
        return {"error": "The conversation is not JSON."}
    if not isinstance(messages, list):
        return {"error": "The conversation is not a list of messages"}
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return {
                "error": f"Message {index + 1} of the conversation is not an object "
                f"(it is {_json_kind(message)})."
            }

    estimated_tokens = sum(_words(m.get("content")) * TOKENS_PER_WORD for m in messages)
    analysis = {
        "total_messages": len(messages),
        "user_messages": sum(1 for m in messages if m.get("role") == "user"),
        "assistant_messages": sum(1 for m in messages if m.get("role") == "assistant"),
        "estimated_tokens": estimated_tokens,
        "sample_messages": messages[-SAMPLE_SIZE:],
    }
    calls = [call for m in messages for call in tool_calls(m)]
    tools = Counter(name for name, _ in calls)
    signals = [
        *_loops(calls, loop_calls, same_call_repeats),
        *_recursions([name for name, _ in calls], recursion_cycles),
        *_history(len(messages), estimated_tokens, max_messages, token_budget),
    ]
    analysis["runaway"] = {
        "signals": signals,
        "tool_calls": len(calls),
        "tools": dict(sorted(tools.items(), key=lambda item: (-item[1], item[0]))),
    }
    return analysis


class _Unreadable(Exception):
    pass


def _read(client, key: str, max_bytes: int) -> bytes | None:
    """The key's value, at most max_bytes of it read; None when there is none."""
    try:
        kind = _text(client.type(key))
        if kind == "none":
            return None
        if kind != "string":
            raise _Unreadable(f"The conversation key holds a {kind}, not a JSON string.")
        size = client.strlen(key)
        if size > max_bytes:
            raise _Unreadable(
                f"The conversation is {size:,} bytes, more than the {max_bytes:,} Vigil reads."
            )
        # Read one byte past the limit: a value that grew since STRLEN is still caught.
        raw = client.getrange(key, 0, max_bytes)
    except redis.ResponseError as exc:
        # A key replaced by another type meanwhile, or a command the ACL refuses.
        raise _Unreadable(f"Redis refused to read the conversation: {exc}") from None
    if len(raw) > max_bytes:
        raise _Unreadable(f"The conversation is more than the {max_bytes:,} bytes Vigil reads.")
    return raw or None  # the seed's `if not history`: an empty value is no conversation


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _json_kind(value) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        str: "a string",
        int: "a number",
        float: "a number",
        list: "a list",
    }.get(type(value), "something else")


def _words(content) -> int:
    """Words in a message's content: a string, or a list of content blocks whose text blocks
    (and plain strings) count; tool calls and images have no words."""
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        count = 0
        for block in content:
            if isinstance(block, str):
                count += len(block.split())
            elif (
                isinstance(block, dict)
                and block.get("type") == "text"
                and isinstance(block.get("text"), str)
            ):
                count += len(block["text"].split())
        return count
    return 0


def tool_calls(message: dict) -> list[tuple[str, str]]:
    """(tool name, its arguments as canonical JSON) for every tool call in one message."""
    found = []
    for call in _as_list(message.get("tool_calls")):
        if isinstance(call, dict) and isinstance(call.get("function"), dict):
            found.append(_call(call["function"].get("name"), call["function"].get("arguments")))
        elif isinstance(call, dict) and isinstance(call.get("custom"), dict):
            found.append(_call(call["custom"].get("name"), call["custom"].get("input")))
    if message.get("type") == "function_call":  # an OpenAI Responses API input item
        found.append(_call(message.get("name"), message.get("arguments")))
    function_call = message.get("function_call")
    if isinstance(function_call, dict):
        found.append(_call(function_call.get("name"), function_call.get("arguments")))
    for block in _as_list(message.get("content")):
        if isinstance(block, dict) and block.get("type") == "tool_use":
            found.append(_call(block.get("name"), block.get("input")))
    return [call for call in found if call is not None]


def _as_list(value) -> list:
    return value if isinstance(value, list) else []


def _call(name, arguments) -> tuple[str, str] | None:
    if not isinstance(name, str) or not name:
        return None
    if isinstance(arguments, str):
        # OpenAI's arguments are a JSON string: the same call may be spaced differently.
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):
            return name, arguments
    try:
        return name, json.dumps(arguments, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return name, repr(arguments)


def _loops(calls, loop_calls: int, same_call_repeats: int) -> list[dict]:
    signals = []
    longest: dict[str, int] = {}
    run_name, run = None, 0
    for name, _ in calls:
        run = run + 1 if name == run_name else 1
        run_name = name
        longest[name] = max(longest.get(name, 0), run)
    for name, times in sorted(longest.items(), key=lambda item: (-item[1], item[0])):
        if times >= loop_calls:
            signals.append(
                {
                    "kind": "tool_loop",
                    "detail": f"{name} was called {times} times in a row.",
                    "tool": name,
                    "times": times,
                }
            )
    repeats = Counter(calls)
    for (name, arguments), times in sorted(repeats.items(), key=lambda item: (-item[1], item[0])):
        if times >= same_call_repeats:
            shown = (
                arguments
                if len(arguments) <= ARGUMENTS_SHOWN
                else arguments[:ARGUMENTS_SHOWN] + "…"
            )
            signals.append(
                {
                    "kind": "tool_loop",
                    "detail": f"{name} was called {times} times with the same arguments.",
                    "tool": name,
                    "times": times,
                    "arguments": shown,
                }
            )
    return signals


def _recursions(names: list[str], recursion_cycles: int) -> list[dict]:
    """Two tools alternating, A→B→A→B…: the longest run of each pair, in full cycles."""
    best: dict[tuple[str, str], tuple[int, str, str]] = {}
    i = 0
    while i + 1 < len(names):
        a, b = names[i], names[i + 1]
        if a == b:
            i += 1
            continue
        j = i + 2
        while j < len(names) and names[j] == names[j - 2]:
            j += 1
        cycles = (j - i) // 2
        pair = tuple(sorted((a, b)))
        if cycles > best.get(pair, (0,))[0]:
            best[pair] = (cycles, a, b)
        # The run's last call may start the next run (A,B,A,B,C,B,C…).
        i = max(i + 1, j - 1)
    signals = []
    for cycles, a, b in sorted(best.values(), key=lambda item: (-item[0], item[1], item[2])):
        if cycles >= recursion_cycles:
            signals.append(
                {
                    "kind": "tool_recursion",
                    "detail": f"{a} → {b} → {a} … went round {cycles} times.",
                    "tools": [a, b],
                    "cycles": cycles,
                }
            )
    return signals


def _history(messages: int, tokens: float, max_messages: int, token_budget: int) -> list[dict]:
    signals = []
    if messages > max_messages:
        signals.append(
            {
                "kind": "unbounded_history",
                "detail": f"{messages} messages, more than {max_messages}.",
                "messages": messages,
                "limit": max_messages,
            }
        )
    if tokens > token_budget:
        signals.append(
            {
                "kind": "unbounded_history",
                "detail": f"About {round(tokens):,} tokens, over the {token_budget:,} budget.",
                "estimated_tokens": round(tokens),
                "limit": token_budget,
            }
        )
    return signals
