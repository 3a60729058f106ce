//! Our own BERT encoder forward pass over packed sequences.
//!
//! Same weights and the same arithmetic as `candle_transformers`' `BertModel` (and
//! PyTorch's), organised for speed on CPU:
//! - **packing**: the sequences of a batch are laid end to end as one `[tokens, hidden]`
//!   matrix, so no row is padding and every linear layer is a single matmul;
//! - **fused QKV**: one `[hidden, 3 * hidden]` projection instead of three;
//! - **fused element-wise ops** ([`crate::kernels`]): bias + GELU, bias + residual +
//!   layer norm, and attention (bias, scores, softmax, weighted sum) per sequence, each
//!   one pass over memory, vectorised for the CPU at run time.
//!
//! The matmuls are candle's (the `gemm` crate, with its AVX-512 kernels enabled by the
//! `x86-v4` feature), on weights stored transposed (`[in, out]` row-major), which spares
//! gemm repacking the weights on every call (+65% at batch 1); or, with
//! [`Precision::Bf16`], ours on AVX-512 BF16 ([`crate::bf16`]). Everything between them is a
//! [`CustomOp1`]/[`CustomOp2`] over candle's CPU storage, so tensors are never copied in
//! and out.

use std::collections::HashMap;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Device, Layout, Shape, Tensor, bail};
use candle_transformers::models::bert::Config as BertConfig;
use rayon::prelude::*;

use crate::bf16::Bf16Matrix;
use crate::config::Precision;
use crate::kernels::{AttentionScratch, LayerNorm, ops};

/// Rows handed to one rayon task by the row-wise kernels.
const ROWS_PER_TASK: usize = 16;

/// The weight of a linear layer, `[in, out]`, in the precision its matmul runs in.
enum Linear {
    /// f32, multiplied by candle (the `gemm` crate): exact.
    F32(Tensor),
    /// bf16 pairs, multiplied on AVX-512 BF16 ([`crate::bf16`]).
    Bf16(Bf16Matrix),
}

impl Linear {
    /// From a `[in, out]` f32 weight.
    fn new(weight: Tensor, precision: Precision) -> candle_core::Result<Self> {
        Ok(match precision {
            Precision::F32 => Self::F32(weight),
            Precision::Bf16 => {
                let (k, n) = weight.dims2()?;
                Self::Bf16(Bf16Matrix::pack(&weight.flatten_all()?.to_vec1()?, k, n))
            }
        })
    }

    /// `x · W` for packed rows `x` (`[tokens, in]`).
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::F32(weight) => x.matmul(weight),
            Self::Bf16(weight) => x.apply_op1_no_bwd(&Bf16MatMul(weight)),
        }
    }
}

struct Layer {
    qkv_weight: Linear,
    qkv_bias: Vec<f32>,
    out_weight: Linear,
    out_bias: Vec<f32>,
    attention_norm: LayerNorm,
    up_weight: Linear,
    up_bias: Vec<f32>,
    down_weight: Linear,
    down_bias: Vec<f32>,
    output_norm: LayerNorm,
}

/// A BERT encoder that runs on packed sequences (see the module docs).
pub struct PackedBert {
    word_embeddings: Vec<f32>,
    position_embeddings: Vec<f32>,
    token_type_embedding: Vec<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    vocab: usize,
    max_positions: usize,
    precision: Precision,
    device: Device,
}

impl PackedBert {
    /// Builds the model from safetensors weights (with or without a `bert.` prefix), its
    /// linear layers in `precision`.
    ///
    /// [`Precision::Bf16`] on a CPU without AVX-512 BF16 ([`crate::bf16::is_supported`])
    /// falls back to f32, with a warning; [`PackedBert::precision`] tells which one runs.
    pub fn load(
        weights: &HashMap<String, Tensor>,
        config: &BertConfig,
        precision: Precision,
    ) -> candle_core::Result<Self> {
        let precision = match precision {
            Precision::Bf16 if !crate::bf16::is_supported() => {
                tracing::warn!(
                    "bf16 embeddings need AVX-512 BF16, which this CPU lacks: running f32"
                );
                Precision::F32
            }
            other => other,
        };
        let prefix = if weights.contains_key("embeddings.word_embeddings.weight") {
            ""
        } else {
            "bert."
        };
        let get = |name: &str| -> candle_core::Result<Tensor> {
            let key = format!("{prefix}{name}");
            match weights.get(&key) {
                Some(t) => t.to_dtype(DType::F32),
                None => bail!("weight {key} not found"),
            }
        };
        let vec =
            |name: &str| -> candle_core::Result<Vec<f32>> { get(name)?.flatten_all()?.to_vec1() };
        let eps = config.layer_norm_eps as f32;
        let norm = |name: &str| -> candle_core::Result<LayerNorm> {
            Ok(LayerNorm {
                gamma: vec(&format!("{name}.weight"))?,
                beta: vec(&format!("{name}.bias"))?,
                eps,
            })
        };
        let hidden = config.hidden_size;
        let heads = config.num_attention_heads;
        if !hidden.is_multiple_of(heads) {
            bail!("hidden size {hidden} is not a multiple of {heads} heads");
        }
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let attn = format!("{p}.attention.self");
            let qkv_weight = Tensor::cat(
                &[
                    get(&format!("{attn}.query.weight"))?,
                    get(&format!("{attn}.key.weight"))?,
                    get(&format!("{attn}.value.weight"))?,
                ],
                0,
            )?;
            let mut qkv_bias = vec(&format!("{attn}.query.bias"))?;
            qkv_bias.extend(vec(&format!("{attn}.key.bias"))?);
            qkv_bias.extend(vec(&format!("{attn}.value.bias"))?);
            // Stored transposed, `[in, out]` row-major: x · W is then a plain matmul.
            let t = |w: Tensor| Linear::new(w.t()?.contiguous()?, precision);
            layers.push(Layer {
                qkv_weight: t(qkv_weight)?,
                qkv_bias,
                out_weight: t(get(&format!("{p}.attention.output.dense.weight"))?)?,
                out_bias: vec(&format!("{p}.attention.output.dense.bias"))?,
                attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                up_weight: t(get(&format!("{p}.intermediate.dense.weight"))?)?,
                up_bias: vec(&format!("{p}.intermediate.dense.bias"))?,
                down_weight: t(get(&format!("{p}.output.dense.weight"))?)?,
                down_bias: vec(&format!("{p}.output.dense.bias"))?,
                output_norm: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        let token_types = vec("embeddings.token_type_embeddings.weight")?;
        Ok(Self {
            word_embeddings: vec("embeddings.word_embeddings.weight")?,
            position_embeddings: vec("embeddings.position_embeddings.weight")?,
            token_type_embedding: token_types[..hidden].to_vec(),
            embedding_norm: norm("embeddings.LayerNorm")?,
            layers,
            hidden,
            heads,
            vocab: config.vocab_size,
            max_positions: config.max_position_embeddings,
            precision,
            device: Device::Cpu,
        })
    }

    /// The precision the linear layers run in.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The hidden states of every token of every sequence, packed: `[sum of lengths, hidden]`.
    /// Each sequence is the token ids of one text (special tokens included, no padding).
    pub fn forward(&self, sequences: &[&[u32]]) -> candle_core::Result<Tensor> {
        self.forward_yielding(sequences, &mut || {})
    }

    /// [`PackedBert::forward`], calling `between` after each layer but the last: a point
    /// where the caller may run other, more urgent passes before this one goes on.
    pub fn forward_yielding(
        &self,
        sequences: &[&[u32]],
        between: &mut (dyn FnMut() + Send),
    ) -> candle_core::Result<Tensor> {
        let lengths: Vec<usize> = sequences.iter().map(|s| s.len()).collect();
        let x = self.embed(sequences)?;
        let mut x = Tensor::from_vec(
            x,
            (lengths.iter().sum::<usize>(), self.hidden),
            &self.device,
        )?;
        for (i, layer) in self.layers.iter().enumerate() {
            if i > 0 {
                between();
            }
            let qkv = layer.qkv_weight.forward(&x)?;
            let context = qkv.apply_op1_no_bwd(&Attention {
                bias: &layer.qkv_bias,
                heads: self.heads,
                lengths: &lengths,
            })?;
            let attended = layer.out_weight.forward(&context)?;
            x = attended.apply_op2_no_bwd(
                &x,
                &BiasResidualNorm {
                    bias: &layer.out_bias,
                    norm: &layer.attention_norm,
                },
            )?;
            let up = layer.up_weight.forward(&x)?;
            let up = up.apply_op1_no_bwd(&BiasGelu {
                bias: &layer.up_bias,
            })?;
            let down = layer.down_weight.forward(&up)?;
            x = down.apply_op2_no_bwd(
                &x,
                &BiasResidualNorm {
                    bias: &layer.down_bias,
                    norm: &layer.output_norm,
                },
            )?;
        }
        Ok(x)
    }

    /// Word + position + token-type (0) embeddings, layer-normed, packed.
    fn embed(&self, sequences: &[&[u32]]) -> candle_core::Result<Vec<f32>> {
        let h = self.hidden;
        let total: usize = sequences.iter().map(|s| s.len()).sum();
        let mut x = vec![0.0f32; total * h];
        let mut rows = x.chunks_exact_mut(h);
        for seq in sequences {
            if seq.len() > self.max_positions {
                bail!(
                    "sequence of {} tokens exceeds {} positions",
                    seq.len(),
                    self.max_positions
                );
            }
            for (pos, &id) in seq.iter().enumerate() {
                let id = id as usize;
                if id >= self.vocab {
                    bail!("token id {id} out of the vocabulary ({})", self.vocab);
                }
                let row = rows.next().expect("one row per token");
                let word = &self.word_embeddings[id * h..(id + 1) * h];
                let position = &self.position_embeddings[pos * h..(pos + 1) * h];
                for (((o, w), p), t) in row
                    .iter_mut()
                    .zip(word)
                    .zip(position)
                    .zip(&self.token_type_embedding)
                {
                    *o = w + p + t;
                }
                self.embedding_norm.apply(row);
            }
        }
        Ok(x)
    }
}

/// The contiguous f32 data of a CPU tensor.
fn contiguous<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("expected a contiguous tensor"),
    }
}

fn rows_of(layout: &Layout) -> candle_core::Result<(usize, usize)> {
    layout.shape().dims2()
}

/// `x · W` in bf16 ([`crate::bf16`]), `x` being `[tokens, in]`.
struct Bf16MatMul<'a>(&'a Bf16Matrix);

impl CustomOp1 for Bf16MatMul<'_> {
    fn name(&self) -> &'static str {
        "bf16-matmul"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous(storage, layout)?;
        let (tokens, width) = rows_of(layout)?;
        if width != self.0.rows() {
            bail!(
                "bf16 matmul of width {width} by a {} x {} weight",
                self.0.rows(),
                self.0.cols()
            );
        }
        let out = self.0.matmul(input, tokens);
        Ok((CpuStorage::F32(out), Shape::from((tokens, self.0.cols()))))
    }
}

/// `gelu(x + bias)`, row-wise.
struct BiasGelu<'a> {
    bias: &'a [f32],
}

impl CustomOp1 for BiasGelu<'_> {
    fn name(&self) -> &'static str {
        "bias-gelu"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous(storage, layout)?;
        let (_, width) = rows_of(layout)?;
        let mut out = input.to_vec();
        let arch = pulp::Arch::new();
        out.par_chunks_mut(width * ROWS_PER_TASK).for_each(|rows| {
            arch.dispatch(ops::BiasGelu {
                rows,
                bias: self.bias,
            })
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// `layer_norm(h + bias + residual)`, row-wise; `h` is the op's first tensor.
struct BiasResidualNorm<'a> {
    bias: &'a [f32],
    norm: &'a LayerNorm,
}

impl CustomOp2 for BiasResidualNorm<'_> {
    fn name(&self) -> &'static str {
        "bias-residual-layernorm"
    }

    fn cpu_fwd(
        &self,
        h: &CpuStorage,
        h_layout: &Layout,
        residual: &CpuStorage,
        residual_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let h = contiguous(h, h_layout)?;
        let residual = contiguous(residual, residual_layout)?;
        if h.len() != residual.len() {
            bail!("residual shape mismatch");
        }
        let (_, width) = rows_of(h_layout)?;
        let mut out = vec![0.0f32; h.len()];
        let chunk = width * ROWS_PER_TASK;
        let arch = pulp::Arch::new();
        out.par_chunks_mut(chunk)
            .zip(h.par_chunks(chunk))
            .zip(residual.par_chunks(chunk))
            .for_each(|((out, h), residual)| {
                arch.dispatch(ops::BiasResidualNorm {
                    out,
                    h,
                    residual,
                    bias: self.bias,
                    norm: self.norm,
                })
            });
        Ok((CpuStorage::F32(out), h_layout.shape().clone()))
    }
}

/// Multi-head self-attention of each packed sequence: input `[tokens, 3 * hidden]`
/// (`[q | k | v]` without bias), output `[tokens, hidden]`.
struct Attention<'a> {
    bias: &'a [f32],
    heads: usize,
    lengths: &'a [usize],
}

impl CustomOp1 for Attention<'_> {
    fn name(&self) -> &'static str {
        "packed-attention"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let qkv = contiguous(storage, layout)?;
        let (tokens, width) = rows_of(layout)?;
        let hidden = width / 3;
        if self.lengths.iter().sum::<usize>() != tokens {
            bail!("sequence lengths do not add up to {tokens} tokens");
        }
        let mut out = vec![0.0f32; tokens * hidden];
        // Split input and output into one piece per sequence; sequences run in parallel.
        let mut pieces = Vec::with_capacity(self.lengths.len());
        let (mut rest_in, mut rest_out) = (qkv, out.as_mut_slice());
        for &len in self.lengths {
            let (a, b) = rest_in.split_at(len * width);
            let (c, d) = std::mem::take(&mut rest_out).split_at_mut(len * hidden);
            pieces.push((a, c));
            rest_in = b;
            rest_out = d;
        }
        let arch = pulp::Arch::new();
        pieces.into_par_iter().for_each_init(
            AttentionScratch::default,
            |scratch, (input, output)| {
                arch.dispatch(ops::Attention {
                    qkv: input,
                    bias: self.bias,
                    heads: self.heads,
                    out: output,
                    scratch,
                })
            },
        );
        Ok((CpuStorage::F32(out), Shape::from((tokens, hidden))))
    }
}
