//! Writes a segment file, streaming: sections go to the file as they are produced (each with its CRC32), so a
//! merge of large segments needs memory only for the small per-block and per-document metadata.

use crate::codec::{read_u64, ByteWriter};
use crate::error::{Error, Result};
use crate::storage::{Storage, WritableFile};

use super::approx::{encode_bitmap, ApproxWriter, ForwardWriter};
use super::docstore::DocStoreWriter;
use super::postings::encode_postings;
use super::records::{Footer, LatentEntry, SectionDesc};
use super::{HEADER_LEN, NUM_SECTIONS, NUM_SECTIONS_V1, SEGMENT_MAGIC, SEGMENT_VERSION};
use crate::vector::Quantizer;

/// Receives one posting list: `(latent, docs, impacts)`.
pub(crate) type ListSink<'a> = dyn FnMut(u32, &[u32], &[u8]) -> Result<()> + 'a;
/// Receives one document: `(key, record)`.
pub(crate) type RecordSink<'a> = dyn FnMut(&[u8], &[u8]) -> Result<()> + 'a;
/// Receives one document's quantized vector: `(latent ids, impact codes)`.
pub(crate) type VectorSink<'a> = dyn FnMut(&[u32], &[u8]) -> Result<()> + 'a;

/// What a segment is built from: documents in their final (key) order, with their posting lists.
pub(crate) trait SegmentInput {
    /// Number of documents.
    fn num_docs(&self) -> u32;
    /// Calls `f(latent, docs, impacts)` for every non-empty posting list (of the latents in `only`, increasing,
    /// when given), in increasing latent order; docs are strictly increasing local ids, impacts non-zero codes.
    /// The writer calls it twice: once for all lists, then for the latents that get a membership bitmap.
    fn for_each_list(&mut self, only: Option<&[u32]>, f: &mut ListSink<'_>) -> Result<()>;
    /// Calls `f(key, record)` for every document in doc-id order; the record is the document-store encoding
    /// (length-prefixed key, then the document). Keys must be strictly increasing.
    fn for_each_record(&mut self, f: &mut RecordSink<'_>) -> Result<()>;
    /// Calls `f(ids, codes)` for every document in doc-id order: its latent ids (increasing) with the impact
    /// codes `quantizer` gives them, zero codes left out, exactly as in the posting lists.
    fn for_each_vector(&mut self, quantizer: &Quantizer, f: &mut VectorSink<'_>) -> Result<()>;
}

/// Writes the file: buffers, tracks the position, and computes each section's CRC as it goes.
struct Sink {
    file: Box<dyn WritableFile>,
    name: String,
    buf: Vec<u8>,
    pos: u64,
    crc: crc32fast::Hasher,
    section_start: u64,
    sections: Vec<SectionDesc>,
}

impl Sink {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.crc.update(bytes);
        self.buf.extend_from_slice(bytes);
        self.pos += bytes.len() as u64;
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.file.write_all(&self.buf).map_err(|e| Error::io(&self.name, "write", e))?;
        self.buf.clear();
        Ok(())
    }

    fn end_section(&mut self) {
        let crc = std::mem::take(&mut self.crc).finalize();
        self.sections.push(SectionDesc { offset: self.section_start, len: self.pos - self.section_start, crc });
        self.section_start = self.pos;
    }
}

/// Lets the fst builder stream into the sink.
impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.put(buf).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes segment `id` from `input` and syncs it when `sync` (the caller syncs the directory): format version 2
/// with the approximate index when `approx`, else version 1 (no approx and forward sections). Returns the file's
/// size.
pub(crate) fn write_segment_from(
    storage: &dyn Storage,
    id: u64,
    input: &mut dyn SegmentInput,
    dims: u32,
    max_weight: f32,
    sync: bool,
    approx: bool,
) -> Result<u64> {
    let version = if approx { SEGMENT_VERSION } else { 1 };
    let name = crate::files::segment(id);
    let num_docs = input.num_docs();
    let quantizer = Quantizer::new(max_weight).map_err(Error::InvalidOptions)?;
    if num_docs == u32::MAX {
        return Err(Error::InvalidOptions(format!("segment {name} would hold too many documents")));
    }
    let file = storage.create(&name).map_err(|e| Error::io(&name, "create", e))?;
    let mut sink = Sink {
        file,
        name: name.clone(),
        buf: Vec::with_capacity(1 << 20),
        pos: 0,
        crc: crc32fast::Hasher::new(),
        section_start: HEADER_LEN as u64,
        sections: Vec::with_capacity(NUM_SECTIONS),
    };
    let mut header = ByteWriter::new();
    header.bytes(SEGMENT_MAGIC);
    header.u32(version);
    header.u32(0);
    sink.put(&header.buf)?;
    sink.crc = crc32fast::Hasher::new();

    // Postings, with block metadata and the latent directory kept in memory (20 bytes per block and latent).
    let mut blocks = ByteWriter::new();
    let mut directory = ByteWriter::new();
    let (mut num_blocks, mut num_latents, mut num_postings) = (0u32, 0u32, 0u64);
    let mut scratch = Vec::new();
    let mut approx_writer = ApproxWriter::default();
    input.for_each_list(None, &mut |latent, docs, impacts| {
        approx_writer.add_list(num_latents, latent, impacts, num_docs);
        scratch.clear();
        let metas = encode_postings(docs, impacts, &mut scratch);
        let base = sink.pos - sink.section_start;
        LatentEntry {
            latent,
            doc_freq: docs.len() as u32,
            first_block: num_blocks,
            num_blocks: metas.len() as u32,
            max_impact: metas.iter().map(|m| m.max_impact).max().unwrap_or(0),
        }
        .encode(&mut directory);
        for mut m in metas {
            m.offset += base;
            m.encode(&mut blocks);
            num_blocks += 1;
        }
        num_latents += 1;
        num_postings += docs.len() as u64;
        sink.put(&scratch)
    })?;
    debug_assert_eq!(directory.len(), num_latents as usize * LatentEntry::LEN);
    sink.end_section();
    sink.put(&blocks.buf)?;
    sink.end_section();
    sink.put(&directory.buf)?;
    sink.end_section();
    drop((blocks, directory));

    // Document store (streamed block by block), collecting the keys.
    let mut store = DocStoreWriter::new();
    let mut key_offsets = ByteWriter::new();
    let mut key_bytes = Vec::new();
    let mut written_docs = 0u32;
    {
        let sink = &mut sink;
        input.for_each_record(&mut |key, record| {
            key_offsets.u64(key_bytes.len() as u64);
            key_bytes.extend_from_slice(key);
            written_docs += 1;
            store.add_record(record, &mut |b| sink.put(b))
        })?;
    }
    if written_docs != num_docs {
        return Err(Error::InvalidOptions(format!("segment {name}: {written_docs} records for {num_docs} documents")));
    }
    let index = store.finish(&mut |b| sink.put(b))?;
    sink.end_section();
    sink.put(&index)?;
    sink.end_section();
    key_offsets.u64(key_bytes.len() as u64);
    sink.put(&key_offsets.buf)?;
    sink.put(&key_bytes)?;
    sink.end_section();

    // The fst key index, streamed.
    let mut fst_builder = fst::MapBuilder::new(&mut sink)
        .map_err(|e| Error::InvalidOptions(format!("segment {name}: key index: {e}")))?;
    let offsets = &key_offsets.buf;
    for doc in 0..num_docs as usize {
        let (start, end) = (read_u64(offsets, doc * 8) as usize, read_u64(offsets, doc * 8 + 8) as usize);
        fst_builder
            .insert(&key_bytes[start..end], doc as u64)
            .map_err(|e| Error::InvalidOptions(format!("segment {name}: keys not sorted and unique: {e}")))?;
    }
    fst_builder.finish().map_err(|e| Error::io(&name, "write", std::io::Error::other(e.to_string())))?;
    sink.end_section();
    drop((key_offsets, key_bytes));

    if approx {
        write_approximate_index(&mut sink, input, &approx_writer, &quantizer, &mut scratch, num_postings)?;
    }

    let expected = if approx { NUM_SECTIONS } else { NUM_SECTIONS_V1 };
    if sink.sections.len() != expected {
        return Err(Error::InvalidOptions(format!("segment {name}: {} sections written", sink.sections.len())));
    }
    let sections: Vec<SectionDesc> = std::mem::take(&mut sink.sections);
    let footer = Footer { version, sections, id, num_docs, num_latents, num_postings, dims, max_weight };
    sink.put(&footer.encode())?;
    sink.flush()?;
    if sync {
        sink.file.sync().map_err(|e| Error::io(&name, "sync", e))?;
    }
    Ok(sink.pos)
}

/// Sections 7 and 8: the means and bitmap directory, the bitmaps (a second pass over those lists), then the
/// forward vectors document by document and their offsets.
fn write_approximate_index(
    sink: &mut Sink,
    input: &mut dyn SegmentInput,
    approx: &ApproxWriter,
    quantizer: &Quantizer,
    scratch: &mut Vec<u8>,
    num_postings: u64,
) -> Result<()> {
    let name = sink.name.clone();
    let num_docs = input.num_docs();
    sink.put(&approx.head(num_docs))?;
    let bitmapped = approx.bitmapped_latents();
    let mut next = 0usize;
    input.for_each_list(Some(&bitmapped), &mut |latent, docs, _| {
        if bitmapped.get(next) != Some(&latent) {
            return Err(Error::InvalidOptions(format!("segment {name}: list of latent {latent} out of turn")));
        }
        next += 1;
        encode_bitmap(docs, num_docs, scratch);
        sink.put(scratch)
    })?;
    if next != bitmapped.len() {
        return Err(Error::InvalidOptions(format!("segment {name}: {next} of {} bitmaps written", bitmapped.len())));
    }
    sink.end_section();

    let mut forward = ForwardWriter::default();
    let (mut vector_docs, mut vector_nnz) = (0u32, 0u64);
    input.for_each_vector(quantizer, &mut |ids, codes| {
        vector_docs += 1;
        vector_nnz += ids.len() as u64;
        sink.put(forward.add(ids, codes))
    })?;
    if vector_docs != num_docs || vector_nnz != num_postings {
        return Err(Error::InvalidOptions(format!(
            "segment {name}: {vector_docs} vectors with {vector_nnz} non-zeros for {num_docs} documents and \
             {num_postings} postings"
        )));
    }
    sink.put(&forward.finish())?;
    sink.end_section();
    Ok(())
}

/// Segments built from documents in memory, for tests (flushes use the memtable's own input,
/// `MemtableInput`).
#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::HashMap;

    use super::*;
    use crate::document::Document;
    use crate::segment::docstore::encode_record;

    /// Documents held in memory (tests): `docs` sorted by key with unique keys. Flushes use the memtable's own
    /// input, `MemtableInput`.
    pub(crate) struct MemInput<'a> {
        docs: &'a [(&'a [u8], &'a Document)],
        quantizer: &'a Quantizer,
    }

    impl<'a> MemInput<'a> {
        pub(crate) fn new(docs: &'a [(&'a [u8], &'a Document)], quantizer: &'a Quantizer) -> Self {
            MemInput { docs, quantizer }
        }
    }

    impl SegmentInput for MemInput<'_> {
        fn num_docs(&self) -> u32 {
            u32::try_from(self.docs.len()).unwrap_or(u32::MAX)
        }

        fn for_each_list(&mut self, only: Option<&[u32]>, f: &mut ListSink<'_>) -> Result<()> {
            // Invert: latent -> (docs, impact codes), docs ascending because we walk in doc order.
            let mut lists: HashMap<u32, (Vec<u32>, Vec<u8>)> = HashMap::new();
            for (doc_id, (_, doc)) in self.docs.iter().enumerate() {
                for (latent, weight) in doc.vector.iter() {
                    let code = self.quantizer.quantize(weight);
                    if code > 0 {
                        let list = lists.entry(latent).or_default();
                        list.0.push(doc_id as u32);
                        list.1.push(code);
                    }
                }
            }
            let mut latents: Vec<u32> = lists.keys().copied().collect();
            latents.sort_unstable();
            if let Some(only) = only {
                latents.retain(|l| only.binary_search(l).is_ok());
            }
            for latent in latents {
                let (docs, impacts) = &lists[&latent];
                f(latent, docs, impacts)?;
            }
            Ok(())
        }

        fn for_each_record(&mut self, f: &mut RecordSink<'_>) -> Result<()> {
            for (key, doc) in self.docs {
                f(key, &encode_record(key, &crate::document::PreparedDocument::new(key, (*doc).clone())?))?;
            }
            Ok(())
        }

        fn for_each_vector(&mut self, quantizer: &Quantizer, f: &mut VectorSink<'_>) -> Result<()> {
            for (_, doc) in self.docs {
                let (ids, codes) = crate::segment::quantized(&doc.vector, quantizer);
                f(&ids, &codes)?;
            }
            Ok(())
        }
    }

    /// Builds segment `id` from documents in memory and writes it (synced when `sync`; tests).
    pub(crate) fn write_segment(
        storage: &dyn Storage,
        id: u64,
        docs: &[(&[u8], &Document)],
        quantizer: &Quantizer,
        dims: u32,
        sync: bool,
    ) -> Result<()> {
        write_segment_from(storage, id, &mut MemInput::new(docs, quantizer), dims, quantizer.max_weight(), sync, true)
            .map(|_| ())
    }

    /// Serializes a segment from documents in memory into bytes (tests and fuzzing).
    pub(crate) fn build_segment(
        id: u64,
        docs: &[(&[u8], &Document)],
        quantizer: &Quantizer,
        dims: u32,
    ) -> Result<Vec<u8>> {
        let storage = crate::storage::MemStorage::new();
        write_segment(&storage, id, docs, quantizer, dims, false)?;
        storage.read(&crate::files::segment(id)).map_err(|e| Error::io(crate::files::segment(id), "read", e))
    }
}
