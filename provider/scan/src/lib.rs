//! The compiled fast path of `gemini_tuning.datasets` validation.
//!
//! A `ContentsScanner` walks a block of JSONL lines and accepts the common case, a plain-text
//! Gemini `contents` example that is valid as it stands, adding it to the statistics and to the
//! duplicate filter. It stops at the first line it does not accept (or that repeats an earlier
//! one) and hands that line back to Python, whose full rules explain what is wrong. The contract,
//! tested from Python against the pure-Python path: it accepts nothing the full rules reject, and
//! every figure it adds up is the one Python would have added.

use std::borrow::Cow;
use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use xxhash_rust::xxh3::xxh3_64;

/// Bumped when the Python side's expectations of this module change.
const API_VERSION: u32 = 1;

// -- the accepted shape: the same as gemini_tuning.datasets._fastpath's msgspec structs --------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Part<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Turn<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow)]
    parts: Vec<Part<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct System<'a> {
    #[serde(borrow)]
    parts: Vec<Part<'a>>,
    #[serde(default)]
    #[allow(dead_code)] // present or not, any value: the role of a system turn is ignored
    role: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Example<'a> {
    #[serde(borrow)]
    contents: Vec<Turn<'a>>,
    #[serde(
        default,
        borrow,
        rename = "systemInstruction",
        deserialize_with = "present"
    )]
    system_instruction: Option<System<'a>>,
}

/// A present `systemInstruction` must be an object: `null` is not "absent" (Option alone would
/// take it for absent).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<System<'de>>, D::Error> {
    System::deserialize(deserializer).map(Some)
}

/// Python's `str.isspace()` for one character (CPython's table, checked against the running
/// interpreter by the Python tests for every code point).
fn is_python_space(c: char) -> bool {
    matches!(
        c,
        '\u{9}'..='\u{d}'
            | '\u{1c}'..='\u{20}'
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

fn is_blank(text: &str) -> bool {
    text.chars().all(is_python_space) // also true for ""
}

/// Characters of a list of non-blank text parts; None for an empty list or a blank part.
fn text_chars(parts: &[Part<'_>]) -> Option<u64> {
    if parts.is_empty() {
        return None;
    }
    let mut total = 0u64;
    for part in parts {
        if is_blank(&part.text) {
            return None;
        }
        total += part.text.chars().count() as u64;
    }
    Some(total)
}

struct Sizes {
    input_chars: u64,
    output_chars: u64,
    turns: u64,
}

/// The sizes of a valid plain-text example, else None (the line goes to the full rules).
fn example_sizes(line: &[u8]) -> Option<Sizes> {
    let example: Example<'_> = serde_json::from_slice(line).ok()?;
    let mut input_chars = match &example.system_instruction {
        Some(system) => text_chars(&system.parts)?,
        None => 0,
    };
    let contents = &example.contents;
    if contents.is_empty() || contents.len() % 2 == 1 {
        return None; // empty, or the last turn is the user's
    }
    let mut output_chars = 0u64;
    for (index, turn) in contents.iter().enumerate() {
        let user = index % 2 == 0;
        if turn.role != if user { "user" } else { "model" } {
            return None;
        }
        let chars = text_chars(&turn.parts)?;
        if user {
            input_chars += chars;
        } else {
            output_chars += chars;
        }
    }
    Some(Sizes {
        input_chars,
        output_chars,
        turns: contents.len() as u64,
    })
}

/// Characters of valid UTF-8: its bytes but the continuation bytes (0b10xxxxxx), counted eight
/// at a time.
fn utf8_chars(bytes: &[u8]) -> u64 {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut continuation = 0u64;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        // bit 7 set and bit 6 clear (shifted up into bit 7's place), in each byte
        continuation += u64::from((word & !(word << 1) & HIGH_BITS).count_ones());
    }
    let tail = words
        .remainder()
        .iter()
        .filter(|&&byte| byte & 0xC0 == 0x80)
        .count() as u64;
    bytes.len() as u64 - continuation - tail
}

// -- the duplicate filter: the same design as gemini_tuning.datasets._seen ---------------------

const BITS_LOG2: u32 = 28; // 2**28 bits = 32 MiB, whatever the file's size
const MASK: u64 = (1 << BITS_LOG2) - 1;

struct SeenFilter {
    words: Vec<u64>,
}

impl SeenFilter {
    fn new() -> Self {
        SeenFilter {
            words: vec![0; 1 << (BITS_LOG2 - 6)],
        }
    }

    /// Record a line (one trailing newline ignored); true if it was (probably) seen before.
    fn add(&mut self, line: &[u8]) -> bool {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let hash = xxh3_64(line);
        let step = ((hash >> 32) & MASK) | 1;
        let first = hash & MASK;
        let probes = [first, (first + step) & MASK, (first + 2 * step) & MASK];
        let mut seen = true;
        for bit in probes {
            let (word, mask) = ((bit >> 6) as usize, 1u64 << (bit & 63));
            seen &= self.words[word] & mask != 0;
            self.words[word] |= mask;
        }
        seen
    }
}

// -- the scanner -------------------------------------------------------------------------------

/// What stopped a scan: the end of the block, a line for the full rules, or a duplicate.
const STOP_END: u8 = 0;
const STOP_CHECK: u8 = 1;
const STOP_DUPLICATE: u8 = 2;

#[derive(Default)]
struct Totals {
    examples: u64,
    chars: u64,
    billable_chars: u64,
    estimated_tokens: u64,
    max_example_tokens: u64,
    input_tokens: HashMap<u64, u64>,
    output_tokens: HashMap<u64, u64>,
    turns: HashMap<u64, u64>,
}

#[pyclass(module = "gemini_tuning_scan")]
struct ContentsScanner {
    max_tokens: Option<u64>,
    chars_per_token: u64,
    seen: SeenFilter,
    totals: Totals,
}

struct Stop {
    accepted: u64,
    start: usize,
    end: usize,
    reason: u8,
}

impl ContentsScanner {
    fn tokens(&self, chars: u64) -> u64 {
        chars.div_ceil(self.chars_per_token)
    }

    fn scan_block(&mut self, block: &[u8], mut start: usize) -> Stop {
        let mut accepted = 0u64;
        while start < block.len() {
            let end = memchr::memchr(b'\n', &block[start..]).map_or(block.len(), |i| start + i + 1);
            let line = &block[start..end];
            let Some(sizes) = example_sizes(line) else {
                return Stop {
                    accepted,
                    start,
                    end,
                    reason: STOP_CHECK,
                };
            };
            let tokens = self.tokens(sizes.input_chars + sizes.output_chars);
            if self.max_tokens.is_some_and(|limit| tokens > limit) {
                return Stop {
                    accepted,
                    start,
                    end,
                    reason: STOP_CHECK,
                };
            }
            self.count(line, &sizes, tokens);
            if self.seen.add(line) {
                return Stop {
                    accepted,
                    start,
                    end,
                    reason: STOP_DUPLICATE,
                };
            }
            accepted += 1;
            start = end;
        }
        Stop {
            accepted,
            start,
            end: start,
            reason: STOP_END,
        }
    }

    fn count(&mut self, line: &[u8], sizes: &Sizes, tokens: u64) {
        let input_tokens = self.tokens(sizes.input_chars);
        let output_tokens = self.tokens(sizes.output_chars);
        let totals = &mut self.totals;
        totals.examples += 1;
        totals.chars += utf8_chars(line);
        totals.billable_chars += sizes.input_chars + sizes.output_chars;
        totals.estimated_tokens += tokens;
        totals.max_example_tokens = totals.max_example_tokens.max(tokens);
        *totals.input_tokens.entry(input_tokens).or_default() += 1;
        *totals.output_tokens.entry(output_tokens).or_default() += 1;
        *totals.turns.entry(sizes.turns).or_default() += 1;
    }
}

type Histogram = Vec<(u64, u64)>;

#[pymethods]
impl ContentsScanner {
    #[new]
    #[pyo3(signature = (*, max_tokens, chars_per_token))]
    fn new(max_tokens: Option<u64>, chars_per_token: u64) -> PyResult<Self> {
        if chars_per_token == 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "chars_per_token must be > 0",
            ));
        }
        Ok(ContentsScanner {
            max_tokens,
            chars_per_token,
            seen: SeenFilter::new(),
            totals: Totals::default(),
        })
    }

    /// Accept lines of ``block[:end]`` from byte ``start`` on, up to the first line that needs
    /// the full rules or repeats an earlier line (that one is counted, as a valid example).
    /// Returns (lines accepted before it, its start, its end, why the scan stopped: 0 the
    /// block's end, 1 the full rules, 2 a duplicate). The GIL is released meanwhile.
    fn scan(
        &mut self,
        py: Python<'_>,
        block: &Bound<'_, PyBytes>,
        start: usize,
        end: usize,
    ) -> (u64, usize, usize, u8) {
        let bytes = block.as_bytes();
        let bytes = &bytes[..end.min(bytes.len())];
        let stop = py.detach(|| self.scan_block(bytes, start.min(bytes.len())));
        (stop.accepted, stop.start, stop.end, stop.reason)
    }

    /// The duplicate filter for lines checked in Python: record ``line``; true if seen before.
    fn add(&mut self, line: &[u8]) -> bool {
        self.seen.add(line)
    }

    /// Free the duplicate filter (32 MiB) once the file is read.
    fn close(&mut self) {
        self.seen.words = Vec::new();
    }

    /// The figures of the accepted lines: (examples, characters, billable characters,
    /// estimated tokens, largest example's tokens).
    fn totals(&self) -> (u64, u64, u64, u64, u64) {
        let t = &self.totals;
        (
            t.examples,
            t.chars,
            t.billable_chars,
            t.estimated_tokens,
            t.max_example_tokens,
        )
    }

    /// (input tokens, output tokens, turns) histograms of the accepted lines: (value, count).
    fn histograms(&self) -> (Histogram, Histogram, Histogram) {
        let sorted = |map: &HashMap<u64, u64>| {
            let mut pairs: Histogram = map.iter().map(|(&k, &v)| (k, v)).collect();
            pairs.sort_unstable();
            pairs
        };
        (
            sorted(&self.totals.input_tokens),
            sorted(&self.totals.output_tokens),
            sorted(&self.totals.turns),
        )
    }
}

/// Python's ``not text or text.isspace()``, as the scanner decides it (for the tests).
#[pyfunction]
fn blank(text: &str) -> bool {
    is_blank(text)
}

#[pymodule]
fn gemini_tuning_scan(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("API_VERSION", API_VERSION)?;
    module.add("STOP_END", STOP_END)?;
    module.add("STOP_CHECK", STOP_CHECK)?;
    module.add("STOP_DUPLICATE", STOP_DUPLICATE)?;
    module.add_class::<ContentsScanner>()?;
    module.add_function(wrap_pyfunction!(blank, module)?)?;
    Ok(())
}
