//! Options for opening a database.

use crate::merge_policy::MergePolicy;

/// How hard a commit tries to reach stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// The WAL is fsynced at every commit: once `commit()` returns, the transaction survives a power loss or
    /// operating-system crash. Segments, deletion files and the manifest are fsynced at checkpoints.
    Full,
    /// The WAL record is written to the operating system at every commit but fsynced only at checkpoints and
    /// on close. Committed transactions survive a process crash; a power loss may lose the transactions since
    /// the last checkpoint, but the database stays consistent (it recovers a prefix of the commits).
    #[default]
    Normal,
    /// Nothing is fsynced (except the truncation of a torn WAL tail during recovery). Committed transactions survive a process crash (the data is in the operating
    /// system's cache); a power loss or OS crash may corrupt the database. For bulk loads that can be redone.
    Off,
}

/// Options for [`Database::open`](crate::Database::open).
#[derive(Debug, Clone)]
pub struct Options {
    /// Commit durability (default [`Durability::Normal`]).
    pub durability: Durability,
    /// Approximate bytes of documents the in-memory table holds before it is flushed to a segment at the start
    /// of the next commit (default 64 MiB).
    pub memtable_size: usize,
    /// Size of the latent space. Required to create a database and recorded in it; when given on open it must
    /// equal the recorded value. Every inserted or queried latent id must be below it.
    pub dims: Option<u32>,
    /// Largest document weight, the top of the 8-bit impact quantization (default 8.0). Recorded at creation;
    /// ignored when opening an existing database. Document weights above it are rejected.
    pub max_weight: f32,
    /// Create the database when the directory holds none (default true).
    pub create_if_missing: bool,
    /// Open a database that a normal open rejects as corrupt, keeping what is intact (writable opens only;
    /// default false): damaged segments are dropped, WAL replay stops at the first damaged record, the result
    /// is checkpointed at once, and [`Database::salvage_report`](crate::Database::salvage_report) says what was
    /// lost. A damaged `MANIFEST` cannot be salvaged.
    pub salvage: bool,
    /// Which segments to merge after each flush; `None` disables automatic merging (default: the tiered
    /// [`MergePolicy`](crate::MergePolicy)). [`Database::compact`](crate::Database::compact) works either way.
    pub merge_policy: Option<MergePolicy>,
    /// Run the policy's merges in a background thread (default true). Off, or with no policy, they run in the
    /// writer's thread right after each flush.
    pub background_merge: bool,
    /// Back-pressure: when background merging falls behind and this many segments exist at a flush, the writer
    /// merges (the policy's pick, or else the smallest segments) before going on, so the count stays at most
    /// this (default 32).
    pub max_segments: usize,
    /// Open read-only: no lock is taken, a concurrent writer process may run, and
    /// [`Database::refresh`](crate::Database::refresh) moves the view forward (default false).
    pub read_only: bool,
    /// The encoder model for text (`insert_text`, `search_text`, [`Database::import`](crate::Database::import)).
    /// The database records the first model it is opened with (while empty) and refuses any other one
    /// afterwards; `None` opens for vector-only use (always allowed). See [`Options::with_encoder`].
    #[cfg(feature = "encoder")]
    pub encoder: Option<std::sync::Arc<crate::encoder::Encoder>>,
    /// Static pruning: keep only the `n` largest weights of every document inserted while this is set (ties:
    /// lower latent id), so the stored and indexed vector is the pruned one (default `None`: keep all). It
    /// makes the index smaller and search faster at some recall cost, measured by `tools/topk-bench`
    /// (README, "Top-k search"). Text documents are already pruned by the model (`top_k_document`, 400).
    pub prune_documents: Option<usize>,
    /// Write each new segment with its approximate index (membership bitmaps and forward vectors, about 4
    /// bytes per non-zero; format-spec.md §3.6–3.7), which [`SearchOptions::approx`](crate::SearchOptions::approx)
    /// searches (default `true`). Without it, segments are written in format version 1 and approximate search
    /// scores them exactly; a later flush or merge with it on writes the index.
    pub approximate_index: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Normal,
            memtable_size: 64 << 20,
            dims: None,
            max_weight: 8.0,
            create_if_missing: true,
            salvage: false,
            merge_policy: Some(MergePolicy::default()),
            background_merge: true,
            max_segments: 32,
            read_only: false,
            #[cfg(feature = "encoder")]
            encoder: None,
            prune_documents: None,
            approximate_index: true,
        }
    }
}

impl Options {
    /// Default options with the given latent-space size.
    pub fn with_dims(dims: u32) -> Self {
        Options { dims: Some(dims), ..Options::default() }
    }

    /// Default options for text: the latent-space size and weight ceiling come from the encoder's model.
    /// Fails for a backbone-only model (no SAE).
    #[cfg(feature = "encoder")]
    pub fn with_encoder(encoder: std::sync::Arc<crate::encoder::Encoder>) -> crate::Result<Self> {
        let dims = encoder.dims()?;
        let max_weight = encoder.config().max_weight;
        Ok(Options { dims: Some(dims), max_weight, encoder: Some(encoder), ..Options::default() })
    }

    /// Sets the durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets the memtable size in bytes.
    pub fn memtable_size(mut self, bytes: usize) -> Self {
        self.memtable_size = bytes;
        self
    }

    /// Keeps only the `n` largest weights of each inserted document (see [`Options::prune_documents`]).
    pub fn prune_documents(mut self, n: usize) -> Self {
        self.prune_documents = Some(n);
        self
    }

    /// Sets read-only mode.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }
}
