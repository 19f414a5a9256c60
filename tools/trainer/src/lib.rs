//! `splare-trainer`: trains TopK sparse autoencoders on a backbone's token states and fine-tunes SPLARE models
//! (LoRA adapters on a BERT backbone, through a frozen SAE) with the KL + FLOPS loss of Formal et al. (2026),
//! writing model directories the splaredb encoder loads.
//!
//! Layout: [`bert`] (differentiable backbone with adapters), [`frozen`] (products with frozen weights that
//! differentiate the input only), [`lora`] (adapters, PEFT files), [`sae`] (frozen
//! SAE and sparse max-pooling with gradients), [`loss`] (KL, FLOPS, contrastive), [`optim`] (AdamW with
//! saved moments), [`finetune`] (runs, checkpoints, resumption), [`train_sae`] (TopK SAE + AuxK), [`states`]
//! (token states for SAE training), [`mine`] (hard negatives and dense teacher scores), [`lexical`] (BM25 mixed
//! into the teacher), [`data`] (training
//! files), [`export`] (model directories and cards), [`storage`] (atomic writes).

pub mod bert;
pub mod data;
pub mod error;
pub mod export;
pub mod finetune;
pub mod frozen;
pub mod lexical;
pub mod lora;
pub mod loss;
pub mod mine;
pub mod model;
pub mod optim;
pub mod sae;
pub mod states;
pub mod storage;
pub mod train_sae;
pub mod weights;

pub use error::{TrainError, TrainResult};
