//! The comparison rule: does a walkthrough's output contain what the README
//! shows next to it? (README: Development, "Walkthroughs are tests".)
//!
//! - The shown lines must appear in the output in the order shown; other
//!   lines may come before, between and after them. A shown line that is
//!   only `…` stands for lines left out and is not compared.
//! - Lines are compared whole, with runs of white space as one space, ends
//!   trimmed, and a trailing comma ignored (a pretty-printed JSON member
//!   may gain a sibling after it).
//! - `…` in a line matches any text, empty included.
//! - A UUID, an RFC 3339 time or a decimal number (`12.0`, `0.68`) shown
//!   in a line matches any value of its kind: ids, times, latencies and
//!   rates vary from run to run. Unless the walkthrough's commands spell
//!   out that very value: then it must be exactly that (a challenge that
//!   must be echoed, a log id sent in a push).
//! - A shown line that is a JSON object (`…` allowed where members are
//!   left out, and inside values) matches an output line that is a JSON
//!   object with at least those members, in any order, each value matched
//!   by the rules above (objects recursively, arrays as subsequences): so
//!   a log line or message that gains fields still matches.
//! - Ports: the test gives each run free ports; it replaces
//!   `127.0.0.1:8080`, `127.0.0.1:5000` and `-p 5000` in the commands and
//!   the shown output alike (see main.rs).

use serde_json::Value;

const ANY: char = '…';

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(String),
    Any,
    Uuid,
    Time,
    Decimal,
}

/// The length of a value of one kind at the start of a text, if one is there.
type Recognizer = fn(&str) -> Option<usize>;

/// One shown line, ready to be matched.
#[derive(Debug, Clone)]
pub struct Pattern {
    tokens: Vec<Token>,
    json: Option<Value>,
    /// The walkthrough's commands (their values stay literal in JSON too).
    commands: String,
}

/// White space runs as one space, ends trimmed, a trailing comma dropped.
fn canonical(line: &str) -> String {
    let joined = line.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.strip_suffix(',') {
        Some(rest) => rest.trim_end().to_owned(),
        None => joined,
    }
}

/// Whether `value` stands in `commands` as a whole value (`0.1` inside
/// `127.0.0.1` does not).
fn spelled_out(commands: &str, value: &str) -> bool {
    let part_of_value = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.');
    commands.match_indices(value).any(|(at, _)| {
        !part_of_value(commands[..at].chars().next_back())
            && !part_of_value(commands[at + value.len()..].chars().next())
    })
}

fn digits(s: &[u8], at: usize) -> usize {
    s.get(at..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_digit()).count()
    })
}

/// Length of the UUID (8-4-4-4-12 hex digits) at the start of `s`.
fn uuid_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes().get(..36)?;
    let ok = bytes.iter().enumerate().all(|(i, b)| match i {
        8 | 13 | 18 | 23 => *b == b'-',
        _ => b.is_ascii_hexdigit(),
    });
    ok.then_some(36)
}

/// Length of the RFC 3339 time (`2026-11-28T10:20:36.814Z`, fraction and
/// zone optional) at the start of `s`.
fn time_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:dd";
    if b.len() < shape.len() {
        return None;
    }
    for (i, want) in shape.iter().enumerate() {
        let ok = match want {
            b'd' => b[i].is_ascii_digit(),
            other => b[i] == *other,
        };
        if !ok {
            return None;
        }
    }
    let mut end = shape.len();
    if b.get(end) == Some(&b'.') && digits(b, end + 1) > 0 {
        end += 1 + digits(b, end + 1);
    }
    match b.get(end) {
        Some(b'Z') => end += 1,
        Some(b'+' | b'-') if b.len() >= end + 6 && b[end + 3] == b':' => end += 6,
        _ => {}
    }
    Some(end)
}

/// Length of the decimal number with a fraction (`12.0`) at the start of
/// `s`.
fn decimal_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let whole = digits(b, 0);
    if whole == 0 || b.get(whole) != Some(&b'.') {
        return None;
    }
    let fraction = digits(b, whole + 1);
    (fraction > 0).then_some(whole + 1 + fraction)
}

impl Pattern {
    /// `shown` as a pattern; `commands` is the walkthrough's script, whose
    /// values stay literal.
    pub fn new(shown: &str, commands: &str) -> Pattern {
        let text = canonical(shown);
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut rest = text.as_str();
        while let Some(c) = rest.chars().next() {
            let kinds: [(Recognizer, Token); 3] = [
                (time_len, Token::Time),
                (uuid_len, Token::Uuid),
                (decimal_len, Token::Decimal),
            ];
            // A value only where a value can start: not inside a word.
            let starts = !literal
                .chars()
                .last()
                .is_some_and(|p| p.is_ascii_alphanumeric());
            let found = kinds.into_iter().find_map(|(len, kind)| {
                len(rest)
                    .filter(|_| starts)
                    .filter(|&n| !spelled_out(commands, &rest[..n]))
                    .map(|n| (n, kind))
            });
            if let Some((n, kind)) = found {
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal)));
                }
                tokens.push(kind);
                rest = &rest[n..];
            } else if c == ANY {
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal)));
                }
                tokens.push(Token::Any);
                rest = &rest[c.len_utf8()..];
            } else {
                literal.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        let json = lenient_json(shown.trim().trim_end_matches(','));
        Pattern {
            tokens,
            json,
            commands: commands.to_owned(),
        }
    }

    /// A line that only says "lines left out here".
    pub fn is_elision(&self) -> bool {
        self.tokens.iter().all(|t| *t == Token::Any)
    }

    pub fn matches(&self, actual: &str) -> bool {
        if let Some(shown) = &self.json
            && let Ok(actual) = serde_json::from_str::<Value>(actual.trim().trim_end_matches(','))
            && actual.is_object()
        {
            return json_contains(shown, &actual, &self.commands);
        }
        match_tokens(&self.tokens, &canonical(actual))
    }
}

fn match_tokens(tokens: &[Token], s: &str) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return s.is_empty();
    };
    let take = |n: Option<usize>| n.is_some_and(|n| match_tokens(rest, &s[n..]));
    match first {
        Token::Literal(text) => {
            s.starts_with(text.as_str()) && match_tokens(rest, &s[text.len()..])
        }
        Token::Uuid => take(uuid_len(s)),
        Token::Time => take(time_len(s)),
        // The whole number: `1.25` is not `1.2` followed by `5`.
        Token::Decimal => take(decimal_len(s)),
        Token::Any => s
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(s.len()))
            .any(|i| match_tokens(rest, &s[i..])),
    }
}

/// `text` as JSON, where `…` may stand for left-out members or elements
/// (dropped) or for a value (a string `…`, which matches anything). `None`
/// when it is not a JSON object even so.
fn lenient_json(text: &str) -> Option<Value> {
    if !text.starts_with('{') {
        return None;
    }
    let mut out = String::new();
    let mut in_string = false;
    let mut escaped = false;
    // After a `…` dropped right behind `{` or `[`: the comma that follows it.
    let mut drop_comma = false;
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if drop_comma && !c.is_whitespace() {
            drop_comma = false;
            if c == ',' {
                continue;
            }
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            ANY => {
                let before = out.trim_end().chars().last();
                let after = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                match (before, after) {
                    // A left-out member or element: dropped with one comma.
                    (Some(','), Some(',' | '}' | ']')) => {
                        let trimmed = out.trim_end().len();
                        out.truncate(trimmed - 1);
                    }
                    (Some('{' | '['), Some(',' | '}' | ']')) => drop_comma = true,
                    // A left-out value: a string that matches anything.
                    _ => out.push_str("\"…\""),
                }
            }
            _ => out.push(c),
        }
    }
    serde_json::from_str::<Value>(&out)
        .ok()
        .filter(Value::is_object)
}

fn json_contains(shown: &Value, actual: &Value, commands: &str) -> bool {
    match (shown, actual) {
        (Value::Object(shown), Value::Object(actual)) => shown.iter().all(|(key, value)| {
            actual
                .get(key)
                .is_some_and(|a| json_contains(value, a, commands))
        }),
        (Value::Array(shown), Value::Array(actual)) => {
            let mut rest = actual.iter();
            shown
                .iter()
                .all(|s| rest.by_ref().any(|a| json_contains(s, a, commands)))
        }
        (Value::String(shown), Value::String(actual)) => {
            Pattern::new(shown, commands).matches_text(actual)
        }
        // `…` (or a pattern) in place of a number, a boolean or null.
        (Value::String(shown), other) => {
            Pattern::new(shown, commands).matches_text(&other.to_string())
        }
        // A number with a fraction varies (a latency); a whole one is a count.
        (Value::Number(shown), Value::Number(actual)) => shown.is_f64() || shown == actual,
        (shown, actual) => shown == actual,
    }
}

impl Pattern {
    /// Text only, never as JSON (a JSON string's value).
    fn matches_text(&self, actual: &str) -> bool {
        match_tokens(&self.tokens, &canonical(actual))
    }
}

/// Where shown output was not found.
#[derive(Debug)]
pub struct Missing {
    /// Index of the first shown line not found.
    pub shown_index: usize,
    /// The output line after which it was looked for (none: from the start).
    pub after_output_line: Option<usize>,
}

/// Finds `shown` (already as patterns, elisions included) in `output`, in
/// order.
pub fn find_in_order(shown: &[Pattern], output: &[&str]) -> Result<(), Missing> {
    let mut next = 0;
    let mut last_match = None;
    for (k, pattern) in shown.iter().enumerate() {
        if pattern.is_elision() {
            continue;
        }
        match (next..output.len()).find(|&i| pattern.matches(output[i])) {
            Some(i) => {
                last_match = Some(i);
                next = i + 1;
            }
            None => {
                return Err(Missing {
                    shown_index: k,
                    after_output_line: last_match,
                });
            }
        }
    }
    Ok(())
}

/// The rule's own checks, run before any walkthrough: each would let a
/// changed output pass if it broke.
pub fn self_check() -> Result<(), String> {
    let cases: &[(&str, &str, &str, bool)] = &[
        // (shown, commands, output line, matches?)
        ("HTTP/1.1 200 OK", "", "HTTP/1.1 200 OK", true),
        ("HTTP/1.1 200 OK", "", "HTTP/1.1 401 Unauthorized", false),
        (
            "summary: 1 answered (200 x1)",
            "",
            "summary: 1 answered (200 x2)",
            false,
        ),
        (
            "  [ok  ] POST handshake: 200 in 12.0 ms, answer is exactly the challenge",
            "",
            "[ok ] POST handshake: 200 in 0.9 ms, answer is exactly the challenge",
            true,
        ),
        (
            "  [ok  ] POST handshake: 200 in 12.0 ms",
            "",
            "[FAIL] POST handshake: 200 in 0.9 ms",
            false,
        ),
        (
            "{\"message_id\":\"3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59\",\"status\":\"queued\"}",
            "",
            "{\"status\":\"queued\",\"message_id\":\"684fda30-5026-4d04-985c-4d4c167c5a02\"}",
            true,
        ),
        (
            "{\"message_id\":\"3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59\",\"status\":\"queued\"}",
            "",
            "{\"message_id\":\"684fda30-5026-4d04-985c-4d4c167c5a02\",\"status\":\"refused\"}",
            false,
        ),
        (
            "{\"level\":\"INFO\",\"size\":2211,…}",
            "",
            "{\"level\":\"INFO\",\"new_field\":1,\"size\":2211}",
            true,
        ),
        (
            "{\"level\":\"INFO\",\"size\":2211,…}",
            "",
            "{\"level\":\"INFO\",\"size\":2212}",
            false,
        ),
        (
            "{\"a\":\"x…\",\"b\":…}",
            "",
            "{\"a\":\"xyz\",\"b\":true}",
            true,
        ),
        ("{…,\"b\":[1,…]}", "", "{\"a\":0,\"b\":[0,1,2]}", true),
        (
            "2d1f7c6e-1f6b-4a0e-9d1c-3a3b1c2d4e5f",
            "challenge 2d1f7c6e-1f6b-4a0e-9d1c-3a3b1c2d4e5f",
            "9d1f7c6e-1f6b-4a0e-9d1c-3a3b1c2d4e5f",
            false,
        ),
        (
            "2d1f7c6e-1f6b-4a0e-9d1c-3a3b1c2d4e5f",
            "",
            "9d1f7c6e-1f6b-4a0e-9d1c-3a3b1c2d4e5f",
            true,
        ),
        (
            "    \"RedoxLogId\": \"d9f5d293-7110-461e-a875-3beb089e79f3\"",
            "",
            "\"RedoxLogId\": \"00000000-7110-461e-a875-3beb089e79f3\",",
            true,
        ),
        (
            "key AKID…, region us-east-1",
            "",
            "key AKID0123ABCD, region us-east-1",
            true,
        ),
        (
            "key AKID…, region us-east-1",
            "",
            "key AKID0123ABCD, region eu-west-1",
            false,
        ),
        (
            "received_at 2026-11-28T10:20:36.814Z",
            "",
            "received_at 2027-01-02T03:04:05.6Z",
            true,
        ),
        (
            "throughput: 146.1 messages/s",
            "",
            "throughput: 146 messages/s",
            false,
        ),
        (
            "200 in 0.1 ms",
            "curl http://127.0.0.1:8080/",
            "200 in 3.3 ms",
            true,
        ),
    ];
    for (shown, commands, actual, want) in cases {
        let got = Pattern::new(shown, commands).matches(actual);
        if got != *want {
            return Err(format!(
                "comparison rule self-check: {shown:?} against {actual:?} gave {got}, expected {want}"
            ));
        }
    }
    let shown: Vec<Pattern> = ["a", "…", "c"]
        .iter()
        .map(|s| Pattern::new(s, ""))
        .collect();
    if find_in_order(&shown, &["a", "b", "c"]).is_err()
        || find_in_order(&shown, &["c", "a"]).is_ok()
    {
        return Err("comparison rule self-check: lines in order".to_owned());
    }
    Ok(())
}
