//! The `memory-server embed` helper: texts one per line in, JSON lines out.

use std::io::{BufRead, Write};

use memory_embed_candle::SentenceEncoder;
use serde::Serialize;

/// How many lines are read before embedding them: enough for several full forward passes
/// sorted by length, little enough to stream.
const LINES_PER_ROUND: usize = 256;

#[derive(Serialize)]
struct Line<'a> {
    text: &'a str,
    embedding: &'a [f32],
}

/// Reads texts one per line from `input` (a trailing `\r` is dropped; an empty line is the
/// empty text), embeds them in forward passes of at most `max_batch_size` texts grouped by
/// length, as the server does, and writes one JSON object per line to `output`, in input
/// order: `{"text": "...", "embedding": [f32, ...]}`. Output is flushed after each round of
/// up to 256 lines, so it streams. Returns the number of texts embedded.
///
/// Runs on the calling thread (no async runtime needed).
pub fn embed_lines(
    encoder: &SentenceEncoder,
    input: impl BufRead,
    mut output: impl Write,
    max_batch_size: usize,
) -> anyhow::Result<usize> {
    let mut total = 0;
    let mut lines = input.lines();
    loop {
        let mut round = Vec::with_capacity(LINES_PER_ROUND);
        for line in lines.by_ref().take(LINES_PER_ROUND) {
            let mut line = line?;
            if line.ends_with('\r') {
                line.pop();
            }
            round.push(line);
        }
        if round.is_empty() {
            break;
        }
        let texts: Vec<&str> = round.iter().map(String::as_str).collect();
        let vectors = encoder.encode(&texts, max_batch_size)?;
        for (text, embedding) in texts.iter().zip(&vectors) {
            serde_json::to_writer(&mut output, &Line { text, embedding })?;
            output.write_all(b"\n")?;
        }
        output.flush()?;
        total += round.len();
    }
    Ok(total)
}
