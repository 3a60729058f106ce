//! `embed_lines` (`memory-server embed`): one JSON line per input line, in order, with the
//! golden vectors.

// The model tests' helpers (the real model, the golden vectors), shared with the embedder.
#[path = "../../memory-embed-candle/tests/common/mod.rs"]
mod common;

use common::{encoder, golden, max_abs_diff};

#[derive(serde::Deserialize)]
struct Out {
    text: String,
    embedding: Vec<f32>,
}

#[test]
fn embeds_each_line_in_order() {
    let golden: Vec<_> = golden()
        .into_iter()
        .filter(|g| !g.text.contains('\n'))
        .collect();
    let mut input = golden
        .iter()
        .map(|g| g.text.as_str())
        .collect::<Vec<_>>()
        .join("\r\n");
    input.push('\n');
    let mut output = Vec::new();
    let n = memory_server::embed_lines::embed_lines(&encoder(), input.as_bytes(), &mut output, 8)
        .unwrap();
    assert_eq!(n, golden.len());
    let lines: Vec<Out> = String::from_utf8(output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is {text, embedding}"))
        .collect();
    assert_eq!(lines.len(), golden.len());
    for (g, out) in golden.iter().zip(&lines) {
        assert_eq!(out.text, g.text);
        assert!(
            max_abs_diff(&g.embedding, &out.embedding) <= 1e-5,
            "{:?}",
            g.text
        );
    }
}

#[test]
fn empty_input_writes_nothing() {
    let mut output = Vec::new();
    assert_eq!(
        memory_server::embed_lines::embed_lines(&encoder(), &b""[..], &mut output, 8).unwrap(),
        0
    );
    assert!(output.is_empty());
}
