//! Deterministic embedders for tests and examples, no model needed: [`ToyEmbedder`] (texts
//! sharing words are similar) and [`ConstantEmbedder`] (every text the same vector).

use async_trait::async_trait;

use crate::domain::Embedding;
use crate::error::EmbedderError;
use crate::ports::Embedder;

/// A toy embedder: a bag of hashed lower-case words in [`ToyEmbedder::DIM`] dimensions. Good
/// enough to show that "Python" finds "I love Python" (texts sharing words are similar); use
/// a real model in production.
#[derive(Debug, Default, Clone, Copy)]
pub struct ToyEmbedder;

impl ToyEmbedder {
    /// The embedding dimension.
    pub const DIM: usize = 64;
}

#[async_trait]
impl Embedder for ToyEmbedder {
    fn model_id(&self) -> String {
        "toy-bag-of-words".into()
    }

    fn dimension(&self) -> usize {
        Self::DIM
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        texts
            .iter()
            .map(|t| {
                let mut v = vec![0.0f32; Self::DIM];
                for word in t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    // FNV-1a: stable across runs and platforms.
                    let h = word.to_lowercase().bytes().fold(2_166_136_261u32, |h, b| {
                        (h ^ u32::from(b)).wrapping_mul(16_777_619)
                    });
                    v[h as usize % Self::DIM] += 1.0;
                }
                Embedding::new(v, Self::DIM)
                    .map_err(|e| EmbedderError::failed_from("toy embedding", e))
            })
            .collect()
    }
}

/// Every text embeds to the same unit vector: for tests about the lexical side of search,
/// where similarity must not decide the ranking.
#[derive(Debug, Clone, Copy)]
pub struct ConstantEmbedder {
    dimension: usize,
}

impl ConstantEmbedder {
    /// An embedder of `dimension` (at least 1) dimensions.
    pub fn new(dimension: usize) -> Self {
        Self {
            dimension: dimension.max(1),
        }
    }
}

#[async_trait]
impl Embedder for ConstantEmbedder {
    fn model_id(&self) -> String {
        "constant".into()
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        let mut v = vec![0.0; self.dimension];
        v[0] = 1.0;
        let e = Embedding::new(v, self.dimension)
            .map_err(|e| EmbedderError::failed_from("constant embedding", e))?;
        Ok(texts.iter().map(|_| e.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_words_make_texts_similar() {
        let texts = [
            "I love Python".to_owned(),
            "python".into(),
            "Porto in June".into(),
        ];
        let e = futures::executor::block_on(ToyEmbedder.embed(&texts)).expect("embed");
        assert_eq!(e.len(), 3);
        assert!(e[0].cosine(&e[1]) > e[0].cosine(&e[2]), "{e:?}");
    }
}
