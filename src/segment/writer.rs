//! Builds a segment file from documents sorted by key.

use std::collections::HashMap;

use crate::codec::{crc32, ByteWriter};
use crate::document::Document;
use crate::error::{Error, Result};
use crate::storage::Storage;
use crate::vector::Quantizer;

use super::docstore::DocStoreWriter;
use super::postings::encode_postings;
use super::{section, segment_file_name, HEADER_LEN, NUM_SECTIONS, SEGMENT_MAGIC, SEGMENT_VERSION};

/// Serializes a segment. `docs` must be sorted by key with unique keys; their order gives the local doc ids.
pub(crate) fn build_segment(id: u64, docs: &[(&[u8], &Document)], quantizer: &Quantizer, dims: u32) -> Result<Vec<u8>> {
    let name = segment_file_name(id);
    let num_docs = u32::try_from(docs.len())
        .ok()
        .filter(|&n| n < u32::MAX)
        .ok_or_else(|| Error::InvalidOptions(format!("segment {name} would hold too many documents")))?;

    // Invert: latent -> (docs, impact codes), docs ascending because we walk in doc order.
    let mut lists: HashMap<u32, (Vec<u32>, Vec<u8>)> = HashMap::new();
    let mut num_postings = 0u64;
    for (doc_id, (_, doc)) in docs.iter().enumerate() {
        for (latent, weight) in doc.vector.iter() {
            let code = quantizer.quantize(weight);
            if code == 0 {
                continue;
            }
            let list = lists.entry(latent).or_default();
            list.0.push(doc_id as u32);
            list.1.push(code);
            num_postings += 1;
        }
    }
    let mut latents: Vec<u32> = lists.keys().copied().collect();
    latents.sort_unstable();

    let mut postings = Vec::new();
    let mut blocks = Vec::new();
    let mut directory = Vec::with_capacity(latents.len() * super::LATENT_ENTRY_LEN);
    let mut num_blocks = 0u32;
    for &latent in &latents {
        let (list_docs, impacts) = &lists[&latent];
        let metas = encode_postings(list_docs, impacts, &mut postings);
        directory.extend_from_slice(&latent.to_le_bytes());
        directory.extend_from_slice(&(list_docs.len() as u32).to_le_bytes());
        directory.extend_from_slice(&num_blocks.to_le_bytes());
        directory.extend_from_slice(&(metas.len() as u32).to_le_bytes());
        let max_impact = metas.iter().map(|m| m.max_impact).max().unwrap_or(0);
        directory.extend_from_slice(&[max_impact, 0, 0, 0]);
        for m in &metas {
            m.encode(&mut blocks);
        }
        num_blocks += metas.len() as u32;
    }

    let mut store = DocStoreWriter::new();
    let mut key_offsets = ByteWriter::new();
    let mut key_bytes = Vec::new();
    let mut fst_builder = fst::MapBuilder::memory();
    for (doc_id, (key, doc)) in docs.iter().enumerate() {
        store.add(key, doc).map_err(|e| Error::io(&name, "compress", e))?;
        key_offsets.u64(key_bytes.len() as u64);
        key_bytes.extend_from_slice(key);
        fst_builder
            .insert(key, doc_id as u64)
            .map_err(|e| Error::InvalidOptions(format!("segment {name}: keys not sorted and unique: {e}")))?;
    }
    key_offsets.u64(key_bytes.len() as u64);
    let mut keys = key_offsets.into_inner();
    keys.extend_from_slice(&key_bytes);
    let fst_bytes = fst_builder.into_inner().map_err(|e| Error::InvalidOptions(format!("segment {name}: {e}")))?;
    let (doc_data, doc_index) = store.finish().map_err(|e| Error::io(&name, "compress", e))?;

    let mut sections: [Vec<u8>; NUM_SECTIONS] = Default::default();
    sections[section::POSTINGS] = postings;
    sections[section::BLOCKS] = blocks;
    sections[section::LATENTS] = directory;
    sections[section::DOCS] = doc_data;
    sections[section::DOC_INDEX] = doc_index;
    sections[section::KEYS] = keys;
    sections[section::FST] = fst_bytes;

    let mut out = ByteWriter::new();
    out.bytes(SEGMENT_MAGIC);
    out.u32(SEGMENT_VERSION);
    out.u32(0);
    debug_assert_eq!(out.len(), HEADER_LEN);
    let mut descriptors = Vec::with_capacity(NUM_SECTIONS);
    for s in &sections {
        descriptors.push((out.len() as u64, s.len() as u64, crc32(s)));
        out.bytes(s);
    }
    let footer_start = out.len();
    for (offset, len, crc) in descriptors {
        out.u64(offset);
        out.u64(len);
        out.u32(crc);
    }
    out.u64(id);
    out.u32(num_docs);
    out.u32(latents.len() as u32);
    out.u64(num_postings);
    out.u32(dims);
    out.f32(quantizer.max_weight());
    let footer_crc = crc32(&out.buf[footer_start..]);
    out.u32(footer_crc);
    out.u32(SEGMENT_VERSION);
    out.bytes(SEGMENT_MAGIC);
    debug_assert_eq!(out.len() - footer_start, super::FOOTER_LEN);
    Ok(out.into_inner())
}

/// Builds segment `id` and writes it to storage (synced when `sync`; the caller syncs the directory).
pub(crate) fn write_segment(
    storage: &dyn Storage,
    id: u64,
    docs: &[(&[u8], &Document)],
    quantizer: &Quantizer,
    dims: u32,
    sync: bool,
) -> Result<()> {
    let bytes = build_segment(id, docs, quantizer, dims)?;
    let name = segment_file_name(id);
    let mut f = storage.create(&name).map_err(|e| Error::io(&name, "create", e))?;
    f.write_all(&bytes).map_err(|e| Error::io(&name, "write", e))?;
    if sync {
        f.sync().map_err(|e| Error::io(&name, "sync", e))?;
    }
    Ok(())
}
