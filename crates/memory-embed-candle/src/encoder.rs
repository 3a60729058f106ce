//! The synchronous sentence encoder: tokenizer → BERT → mean pooling → L2 normalisation,
//! as sentence-transformers does it. Runs on the calling thread; see [`crate::CandleEmbedder`]
//! for the async, micro-batching front.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use serde::Deserialize;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::bert::PackedBert;
use crate::config::{EmbedderConfig, Precision};
use crate::error::{EmbedError, Result};
use crate::model_files::{self, ModelFiles};

/// sentence-transformers' default when a model has no `sentence_bert_config.json`.
const DEFAULT_MAX_SEQ_LEN: usize = 256;

/// Which BERT forward pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Our own forward pass on packed sequences ([`crate::bert`]): no padding, fused ops,
    /// linear layers in the given precision.
    Packed(Precision),
    /// `candle_transformers`' `BertModel` on padded batches: the straightforward
    /// implementation, kept as a reference for tests and benchmarks.
    CandleBertModel,
}

impl Default for Backend {
    fn default() -> Self {
        Self::Packed(Precision::default())
    }
}

enum Model {
    Packed(PackedBert),
    CandleBertModel(BertModel),
}

/// A loaded model: turns texts into unit-length sentence embeddings.
pub struct SentenceEncoder {
    model_id: String,
    tokenizer: Tokenizer,
    model: Model,
    device: Device,
    dimension: usize,
    max_seq_len: usize,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEncoder")
            .field("model_id", &self.model_id)
            .field("dimension", &self.dimension)
            .field("max_seq_len", &self.max_seq_len)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
}

impl SentenceEncoder {
    /// Finds the model as `config` says ([`model_files::resolve`]) and loads it.
    pub fn load(config: &EmbedderConfig) -> Result<Self> {
        config.validate()?;
        let files = model_files::resolve(config)?;
        tracing::info!(model = %config.model_name, source = %files.source, "loading embedding model");
        let encoder = Self::from_files_with(
            &config.model_name,
            &files,
            Backend::Packed(config.precision),
        )?;
        tracing::info!(
            model = %config.model_name,
            precision = %encoder.precision(),
            dimension = encoder.dimension(),
            "embedding model loaded"
        );
        Ok(encoder)
    }

    /// Loads the model from files already found, with the default [`Backend`].
    pub fn from_files(model_id: &str, files: &ModelFiles) -> Result<Self> {
        Self::from_files_with(model_id, files, Backend::default())
    }

    /// Loads the model from files already found, running the given [`Backend`].
    pub fn from_files_with(model_id: &str, files: &ModelFiles, backend: Backend) -> Result<Self> {
        let bert_config: BertConfig = read_json(&files.config)?;
        let dimension = bert_config.hidden_size;

        if let Some(path) = &files.pooling_config {
            let pooling: PoolingConfig = read_json(path)?;
            if !pooling.pooling_mode_mean_tokens {
                return Err(EmbedError::Unsupported(format!(
                    "{model_id} does not use mean pooling ({})",
                    path.display()
                )));
            }
        }
        let max_seq_len = match &files.sentence_bert_config {
            Some(path) => read_json::<SentenceBertConfig>(path)?.max_seq_length,
            None => None,
        }
        .unwrap_or(DEFAULT_MAX_SEQ_LEN)
        .min(bert_config.max_position_embeddings);

        let tokenizer = load_tokenizer(&files.tokenizer, max_seq_len)?;

        let device = Device::Cpu;
        let weights = candle_core::safetensors::load(&files.weights, &device).map_err(|e| {
            EmbedError::ModelFile {
                path: files.weights.clone(),
                reason: e.to_string(),
            }
        })?;
        let not_bert = |e: candle_core::Error| EmbedError::ModelFile {
            path: files.weights.clone(),
            reason: format!("not a BERT model this crate can run: {e}"),
        };
        let model = match backend {
            Backend::Packed(precision) => Model::Packed(
                PackedBert::load(&weights, &bert_config, precision).map_err(not_bert)?,
            ),
            Backend::CandleBertModel => {
                let vb = VarBuilder::from_tensors(weights, DType::F32, &device);
                Model::CandleBertModel(BertModel::load(vb, &bert_config).map_err(not_bert)?)
            }
        };
        Ok(Self {
            model_id: model_id.to_string(),
            tokenizer,
            model,
            device,
            dimension,
            max_seq_len,
        })
    }

    /// The precision the model's linear layers run in: the one asked for, or f32 where the
    /// CPU cannot run bf16 (and for the reference backend).
    pub fn precision(&self) -> Precision {
        match &self.model {
            Model::Packed(bert) => bert.precision(),
            Model::CandleBertModel(_) => Precision::F32,
        }
    }

    /// The model's identifier.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Number of dimensions of every embedding.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Longest input in tokens (special tokens included); longer texts are truncated.
    pub fn max_seq_len(&self) -> usize {
        self.max_seq_len
    }

    /// The token ids of each text after truncation, special tokens included, no padding.
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        Ok(encodings
            .iter()
            .map(|e| {
                // Padding is on the right: the real tokens are the prefix the mask marks.
                let real = e.get_attention_mask().iter().filter(|&&m| m == 1).count();
                e.get_ids()[..real].to_vec()
            })
            .collect())
    }

    /// Embeds `texts` in one forward pass (for the reference backend: padded to the longest
    /// of them, exactly what sentence-transformers does for one batch). One unit vector per
    /// text, in order.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let ids = self.tokenize(texts)?;
        let sequences: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        self.forward(&sequences, &mut || {})
    }

    /// Embeds any number of texts: sorts them by length, runs forward passes of at most
    /// `max_batch` texts of similar length, and returns the vectors in the order of `texts`.
    pub fn encode(&self, texts: &[&str], max_batch: usize) -> Result<Vec<Vec<f32>>> {
        self.encode_yielding(texts, max_batch, &mut || {})
    }

    /// [`SentenceEncoder::encode`], calling `between` between the layers of each forward
    /// pass (the packed backend) or between passes (the reference backend): where the
    /// caller may run a more urgent pass first. The vectors are the same.
    pub fn encode_yielding(
        &self,
        texts: &[&str],
        max_batch: usize,
        between: &mut (dyn FnMut() + Send),
    ) -> Result<Vec<Vec<f32>>> {
        let ids = self.tokenize(texts)?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(max_batch.max(1)) {
            let sequences: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            for (&i, v) in chunk.iter().zip(self.forward(&sequences, between)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// One forward pass over token id sequences, then mean pooling and L2 normalisation.
    fn forward(
        &self,
        sequences: &[&[u32]],
        between: &mut (dyn FnMut() + Send),
    ) -> Result<Vec<Vec<f32>>> {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = match &self.model {
            Model::Packed(bert) => {
                let hidden = bert
                    .forward_yielding(sequences, between)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                let mut rows = Vec::with_capacity(sequences.len());
                let mut tokens = hidden.chunks_exact(self.dimension);
                for seq in sequences {
                    let mut mean = vec![0.0f32; self.dimension];
                    for row in tokens.by_ref().take(seq.len()) {
                        mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
                    }
                    let n = seq.len().max(1) as f32;
                    mean.iter_mut().for_each(|m| *m /= n);
                    rows.push(mean);
                }
                rows
            }
            Model::CandleBertModel(bert) => {
                between();
                self.forward_padded(bert, sequences)?
            }
        };
        rows.iter_mut().for_each(|r| normalize(r));
        Ok(rows)
    }

    /// The straightforward path: pad to the longest, `BertModel`, masked mean.
    fn forward_padded(&self, bert: &BertModel, sequences: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let batch = sequences.len();
        let seq_len = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
        let pad_id = self.tokenizer.get_padding().map_or(0, |p| p.pad_id);
        let mut ids = Vec::with_capacity(batch * seq_len);
        let mut mask = Vec::with_capacity(batch * seq_len);
        for seq in sequences {
            ids.extend_from_slice(seq);
            ids.extend(std::iter::repeat_n(pad_id, seq_len - seq.len()));
            mask.extend(std::iter::repeat_n(1u32, seq.len()));
            mask.extend(std::iter::repeat_n(0u32, seq_len - seq.len()));
        }
        let ids = Tensor::from_vec(ids, (batch, seq_len), &self.device)?;
        let mask = Tensor::from_vec(mask, (batch, seq_len), &self.device)?;
        let type_ids = ids.zeros_like()?;
        let hidden = bert.forward(&ids, &type_ids, Some(&mask))?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        Ok(summed.broadcast_div(&counts)?.to_vec2::<f32>()?)
    }
}

/// Scales `v` to unit length (as `torch.nn.functional.normalize`, eps 1e-12).
pub(crate) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
}

/// The model's tokenizer with sentence-transformers' settings: truncation at
/// `max_seq_len` and padding to the longest text of each batch. (The all-MiniLM-L6-v2
/// `tokenizer.json` itself says pad to a fixed 128 and truncate at 128.)
fn load_tokenizer(path: &Path, max_seq_len: usize) -> Result<Tokenizer> {
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| EmbedError::ModelFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let padding = PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        ..tokenizer.get_padding().cloned().unwrap_or_default()
    };
    let truncation = TruncationParams {
        max_length: max_seq_len,
        ..tokenizer.get_truncation().cloned().unwrap_or_default()
    };
    tokenizer.with_padding(Some(padding));
    tokenizer
        .with_truncation(Some(truncation))
        .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
    Ok(tokenizer)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bad = |reason: String| EmbedError::ModelFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
}
