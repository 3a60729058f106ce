//! The embedder reproduces sentence-transformers: every golden text within cosine
//! 0.99999 and 1e-5 per component, whatever the batching.

mod common;

use common::{
    Golden, assert_matches_golden, cosine, encoder, encoder_with, golden, max_abs_diff,
    reference_encoder,
};
use memory_embed_candle::Precision;

fn texts(golden: &[Golden]) -> Vec<&str> {
    golden.iter().map(|g| g.text.as_str()).collect()
}

#[test]
fn golden_vectors_match_sentence_transformers() {
    let golden = golden();
    let encoder = encoder();
    assert_eq!(encoder.dimension(), 384);
    let got = encoder.encode(&texts(&golden), 8).unwrap();
    let (cos, diff) = assert_matches_golden(&golden, &got);
    eprintln!(
        "{} texts: worst cosine {cos:.9}, worst max abs diff {diff:e}",
        golden.len()
    );
}

#[test]
fn bf16_vectors_stay_within_cosine_0_999_of_sentence_transformers() {
    let encoder = encoder_with(Precision::Bf16);
    if encoder.precision() != Precision::Bf16 {
        eprintln!("skipped: this CPU has no AVX-512 BF16, so bf16 runs f32");
        return;
    }
    let golden = golden();
    let got = encoder.encode(&texts(&golden), 8).unwrap();
    assert_eq!(got.len(), golden.len());
    let (mut worst_cos, mut worst_diff) = (1.0f64, 0.0f32);
    for (g, v) in golden.iter().zip(&got) {
        let cos = cosine(&g.embedding, v);
        assert!(
            cos >= 0.999,
            "text {:?}: cosine {cos} to the f32 vector",
            g.text.chars().take(60).collect::<String>()
        );
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        worst_cos = worst_cos.min(cos);
        worst_diff = worst_diff.max(max_abs_diff(&g.embedding, v));
    }
    // Reduced precision really ran: bf16 rounding moves the vectors, a little.
    assert!(
        worst_diff > 1e-5,
        "bf16 vectors equal the f32 ones: is bf16 running?"
    );
    // Each text's nearest golden vector is still its own.
    for (i, v) in got.iter().enumerate() {
        let nearest = (0..golden.len())
            .max_by(|&a, &b| {
                cosine(&golden[a].embedding, v).total_cmp(&cosine(&golden[b].embedding, v))
            })
            .unwrap();
        assert!(
            golden[nearest].embedding == golden[i].embedding,
            "text {i}'s nearest reference is text {nearest}"
        );
    }
    // A text's vector does not depend on the batch it is packed into.
    for (i, text) in texts(&golden).iter().enumerate().step_by(7) {
        let alone = encoder.encode_batch(&[text]).unwrap().remove(0);
        let diff = max_abs_diff(&alone, &got[i]);
        assert!(
            diff <= 1e-6,
            "text {i} alone differs by {diff} from its batch"
        );
    }
    eprintln!(
        "bf16, {} texts: worst cosine {worst_cos:.6}, worst max abs diff {worst_diff:e}",
        golden.len()
    );
}

#[test]
fn one_padded_batch_matches_golden() {
    // All texts in one forward pass, padded to the longest (> 256 tokens, so truncated).
    let golden = golden();
    let got = encoder().encode_batch(&texts(&golden)).unwrap();
    assert_matches_golden(&golden, &got);
}

#[test]
fn batch_grouping_does_not_change_vectors() {
    let golden = golden();
    let encoder = encoder();
    let texts = texts(&golden);
    let one_by_one: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| encoder.encode_batch(&[t]).unwrap().remove(0))
        .collect();
    for max_batch in [1, 3, 7, 64] {
        let got = encoder.encode(&texts, max_batch).unwrap();
        for (i, (a, b)) in one_by_one.iter().zip(&got).enumerate() {
            let diff = max_abs_diff(a, b);
            assert!(
                diff <= 1e-6,
                "text {i}, max_batch {max_batch}: differs by {diff}"
            );
        }
    }
}

#[test]
fn batch_order_is_preserved() {
    let golden = golden();
    let encoder = encoder();
    let mut reversed: Vec<&Golden> = golden.iter().collect();
    reversed.reverse();
    let texts: Vec<&str> = reversed.iter().map(|g| g.text.as_str()).collect();
    let got = encoder.encode(&texts, 5).unwrap();
    for (g, v) in reversed.iter().zip(&got) {
        assert!(
            max_abs_diff(&g.embedding, v) <= 1e-5,
            "text {:?} out of place",
            g.text
        );
    }
}

#[test]
fn empty_input_gives_no_vectors() {
    assert!(encoder().encode(&[], 8).unwrap().is_empty());
}

#[test]
fn reference_bert_model_matches_golden_too() {
    // candle's stock BertModel on padded batches: the baseline the packed pass replaces.
    let golden = golden();
    let got = reference_encoder().encode(&texts(&golden), 8).unwrap();
    let (cos, diff) = assert_matches_golden(&golden, &got);
    eprintln!("reference: worst cosine {cos:.9}, worst max abs diff {diff:e}");
}
