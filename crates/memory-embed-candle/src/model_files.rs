//! Where the model comes from: an explicit directory, the Hugging Face cache, or (online
//! only) a download with hf-hub.

use std::path::{Path, PathBuf};

use crate::config::EmbedderConfig;
use crate::error::{EmbedError, Result};

/// The files of one sentence-transformers BERT model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// `config.json` (the BERT hyper-parameters).
    pub config: PathBuf,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// `model.safetensors`.
    pub weights: PathBuf,
    /// `sentence_bert_config.json` (max sequence length), if the model has one.
    pub sentence_bert_config: Option<PathBuf>,
    /// `1_Pooling/config.json` (pooling mode), if the model has one.
    pub pooling_config: Option<PathBuf>,
    /// Where they were found, for logs.
    pub source: String,
}

const REQUIRED: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
const SENTENCE_BERT_CONFIG: &str = "sentence_bert_config.json";
const POOLING_CONFIG: &str = "1_Pooling/config.json";

/// The Hugging Face hub cache root, given a way to read variables (the binary passes
/// `std::env::var_os`; this crate reads no environment itself): `$HF_HUB_CACHE`, else
/// `$HF_HOME/hub`, else `$HOME/.cache/huggingface/hub` (the same order as
/// `scripts/fetch-model.sh` and Python's `huggingface_hub`).
pub fn hf_cache_dir(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let var = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = var("HF_HUB_CACHE") {
        return p;
    }
    if let Some(p) = var("HF_HOME") {
        return p.join("hub");
    }
    let home = var("HOME").unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("huggingface").join("hub")
}

/// Finds the model named by `config`, in this order:
/// 1. `config.model_path` when set (and only there);
/// 2. the Hugging Face cache `config.cache_dir`, when set, without network;
/// 3. a download with hf-hub, when `config.allow_download` and the `hub-download` feature.
pub fn resolve(config: &EmbedderConfig) -> Result<ModelFiles> {
    if let Some(dir) = &config.model_path {
        return from_dir(dir).map_err(|why| EmbedError::ModelNotFound {
            model: config.model_name.clone(),
            looked: vec![format!(
                "MEMORY_EMBEDDING_MODEL_PATH={} ({why})",
                dir.display()
            )],
        });
    }
    let mut looked = Vec::new();
    let Some(cache_dir) = &config.cache_dir else {
        looked.push("no Hugging Face cache configured".into());
        return Err(EmbedError::ModelNotFound {
            model: config.model_name.clone(),
            looked,
        });
    };
    match from_cache(cache_dir, &config.model_name) {
        Ok(files) => return Ok(files),
        Err(why) => looked.push(format!(
            "Hugging Face cache {} ({why})",
            cache_dir.display()
        )),
    }
    if config.allow_download {
        match download(cache_dir, &config.model_name) {
            Ok(files) => return Ok(files),
            Err(why) => looked.push(format!("download from the Hugging Face hub ({why})")),
        }
    } else {
        looked.push("download from the hub (disabled by configuration)".into());
    }
    Err(EmbedError::ModelNotFound {
        model: config.model_name.clone(),
        looked,
    })
}

/// A local directory holding the files side by side.
pub fn from_dir(dir: &Path) -> Result<ModelFiles, String> {
    if !dir.is_dir() {
        return Err("not a directory".into());
    }
    let missing: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing {}", missing.join(", ")));
    }
    let optional = |f: &str| Some(dir.join(f)).filter(|p| p.is_file());
    Ok(ModelFiles {
        config: dir.join("config.json"),
        tokenizer: dir.join("tokenizer.json"),
        weights: dir.join("model.safetensors"),
        sentence_bert_config: optional(SENTENCE_BERT_CONFIG),
        pooling_config: optional(POOLING_CONFIG),
        source: dir.display().to_string(),
    })
}

fn from_cache(cache_dir: &Path, model: &str) -> Result<ModelFiles, String> {
    let cache = hf_hub::Cache::new(cache_dir.to_path_buf());
    let repo = cache.model(model.to_string());
    let mut found = Vec::new();
    for f in REQUIRED {
        found.push(repo.get(f).ok_or_else(|| format!("no {f} for {model}"))?);
    }
    let [config, tokenizer, weights]: [PathBuf; 3] =
        found.try_into().map_err(|_| "unreachable".to_string())?;
    let source = weights
        .parent()
        .map_or_else(String::new, |p| p.display().to_string());
    Ok(ModelFiles {
        config,
        tokenizer,
        weights,
        sentence_bert_config: repo.get(SENTENCE_BERT_CONFIG),
        pooling_config: repo.get(POOLING_CONFIG),
        source,
    })
}

#[cfg(feature = "hub-download")]
fn download(cache_dir: &Path, model: &str) -> Result<ModelFiles, String> {
    let api = hf_hub::api::sync::ApiBuilder::new()
        .with_cache_dir(cache_dir.to_path_buf())
        .with_progress(false)
        .with_retries(0)
        .build()
        .map_err(|e| e.to_string())?;
    let repo = api.model(model.to_string());
    tracing::info!(
        model,
        "model not in the local cache, downloading from the hub"
    );
    let get = |f: &str| repo.get(f).map_err(|e| format!("{f}: {e}"));
    let config = get("config.json")?;
    let tokenizer = get("tokenizer.json")?;
    let weights = get("model.safetensors")?;
    Ok(ModelFiles {
        config,
        tokenizer,
        sentence_bert_config: get(SENTENCE_BERT_CONFIG).ok(),
        pooling_config: get(POOLING_CONFIG).ok(),
        source: format!("hub download of {model}"),
        weights,
    })
}

#[cfg(not(feature = "hub-download"))]
fn download(_cache_dir: &Path, _model: &str) -> Result<ModelFiles, String> {
    Err("built without the `hub-download` feature".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_follows_the_huggingface_order() {
        let vars = |set: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                set.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        assert_eq!(
            hf_cache_dir(vars(&[("HF_HUB_CACHE", "/c"), ("HF_HOME", "/h")])),
            PathBuf::from("/c")
        );
        assert_eq!(
            hf_cache_dir(vars(&[("HF_HUB_CACHE", ""), ("HF_HOME", "/h")])),
            PathBuf::from("/h/hub")
        );
        assert_eq!(
            hf_cache_dir(vars(&[("HOME", "/home/u")])),
            PathBuf::from("/home/u/.cache/huggingface/hub")
        );
    }

    #[test]
    fn explicit_dir_missing_files_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("memory-embed-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = EmbedderConfig {
            model_path: Some(dir.clone()),
            ..EmbedderConfig::default()
        };
        let err = resolve(&config).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("MEMORY_EMBEDDING_MODEL_PATH"), "{err}");
        assert!(
            err.contains("missing config.json, tokenizer.json, model.safetensors"),
            "{err}"
        );
        assert!(err.contains("scripts/fetch-model.sh"), "{err}");
    }
}
