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
use std::sync::atomic::{AtomicBool, Ordering};

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
        self.add_hash(line_hash(line))
    }

    /// Record a line by its ``line_hash``; true if it was (probably) seen before.
    fn add_hash(&mut self, hash: u64) -> bool {
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

/// The duplicate filter's hash of a line (one trailing newline ignored).
fn line_hash(line: &[u8]) -> u64 {
    xxh3_64(line.strip_suffix(b"\n").unwrap_or(line))
}

// -- the scanner -------------------------------------------------------------------------------

/// A scan of at least this many bytes is split in two: a helper thread does the stateless work
/// (parsing, sizes, characters, hashes) of the second half while this one scans the first; the
/// second half's lines are then added to the statistics and the filter here, in order, so every
/// figure and every stop is the one a single thread finds.
const PARALLEL_MIN_BYTES: usize = 1 << 20;

/// The stateless findings about one line.
struct Scanned {
    start: usize,
    end: usize,
    sizes: Option<Sizes>,
    chars: u64,
    hash: u64,
}

fn scan_line(block: &[u8], start: usize) -> Scanned {
    let end = memchr::memchr(b'\n', &block[start..]).map_or(block.len(), |i| start + i + 1);
    let line = &block[start..end];
    let sizes = example_sizes(line);
    let (chars, hash) = if sizes.is_some() {
        (utf8_chars(line), line_hash(line))
    } else {
        (0, 0)
    };
    Scanned {
        start,
        end,
        sizes,
        chars,
        hash,
    }
}

/// The lines of ``block`` from ``start`` on, up to and including the first one that is not a
/// plain valid example (the scan stops there); early when ``cancel`` is set.
fn scan_ahead(block: &[u8], mut start: usize, cancel: &AtomicBool) -> Vec<Scanned> {
    let mut lines = Vec::new();
    while start < block.len() && !cancel.load(Ordering::Relaxed) {
        let line = scan_line(block, start);
        let last = line.sizes.is_none();
        start = line.end;
        lines.push(line);
        if last {
            break;
        }
    }
    lines
}

/// Where to split a scan of ``block[start..]``: the start of the line at its middle, if the
/// scan is long enough to be worth a helper thread.
fn split_point(block: &[u8], start: usize) -> Option<usize> {
    if block.len().saturating_sub(start) < PARALLEL_MIN_BYTES {
        return None;
    }
    let middle = start + (block.len() - start) / 2;
    let newline = memchr::memchr(b'\n', &block[middle..])?;
    let split = middle + newline + 1;
    (split < block.len()).then_some(split)
}

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

    fn scan_block(&mut self, block: &[u8], start: usize) -> Stop {
        let Some(split) = split_point(block, start) else {
            return self.scan_range(block, start, block.len());
        };
        let cancel = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let ahead = scope.spawn(|| scan_ahead(block, split, &cancel));
            let first = self.scan_range(block, start, split);
            if first.reason != STOP_END {
                cancel.store(true, Ordering::Relaxed);
                let _ = ahead.join();
                return first;
            }
            let lines = ahead.join().expect("the scan's helper thread panicked");
            let mut accepted = first.accepted;
            for line in &lines {
                if let Some(stop) = self.accept(line, accepted) {
                    return stop;
                }
                accepted += 1;
            }
            Stop {
                accepted,
                start: block.len(),
                end: block.len(),
                reason: STOP_END,
            }
        })
    }

    /// Scan the lines that start in ``block[start..until]`` on this thread.
    fn scan_range(&mut self, block: &[u8], mut start: usize, until: usize) -> Stop {
        let mut accepted = 0u64;
        while start < until {
            let line = scan_line(block, start);
            if let Some(stop) = self.accept(&line, accepted) {
                return stop;
            }
            accepted += 1;
            start = line.end;
        }
        Stop {
            accepted,
            start,
            end: start,
            reason: STOP_END,
        }
    }

    /// Add a scanned line to the statistics and the filter; or the stop it is.
    fn accept(&mut self, line: &Scanned, accepted: u64) -> Option<Stop> {
        let stop = |reason| Stop {
            accepted,
            start: line.start,
            end: line.end,
            reason,
        };
        let Some(sizes) = &line.sizes else {
            return Some(stop(STOP_CHECK));
        };
        let tokens = self.tokens(sizes.input_chars + sizes.output_chars);
        if self.max_tokens.is_some_and(|limit| tokens > limit) {
            return Some(stop(STOP_CHECK));
        }
        self.count(line.chars, sizes, tokens);
        if self.seen.add_hash(line.hash) {
            return Some(stop(STOP_DUPLICATE));
        }
        None
    }

    fn count(&mut self, chars: u64, sizes: &Sizes, tokens: u64) {
        let input_tokens = self.tokens(sizes.input_chars);
        let output_tokens = self.tokens(sizes.output_chars);
        let totals = &mut self.totals;
        totals.examples += 1;
        totals.chars += chars;
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
