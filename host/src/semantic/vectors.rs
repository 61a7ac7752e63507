//! `VectorIndex`: the exact nearest-neighbour index of one wiki's chunk embeddings.
//!
//! Brute force over one flat, row-major `f32` matrix: a few thousand chunks of 384 dimensions
//! score in well under a millisecond, so no approximate index is needed and results are exact.
//! The chunks of a page always occupy one contiguous run of rows, which makes replacing a page
//! a single drain and lets a search apply the page filter and the per-page cap once per page.
//! It lives in memory only: `ChunkStore` keeps the vectors on disk and loads them into it.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

use super::normalise;

/// Errors of the vector index: vectors it cannot hold.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    #[error("vectors: a vector has {found} dimensions, the index holds {expected}")]
    DimMismatch { expected: usize, found: usize },
    #[error("vectors: a vector has a component that is NaN or infinite")]
    NonFinite,
}

pub type Result<T, E = VectorError> = std::result::Result<T, E>;

/// One chunk of a page as the embedder hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkVector {
    pub id: u64,
    /// The headings above the chunk, e.g. `Setup > Linux`, to show where a hit is.
    pub heading: String,
    /// The chunk's text or a short snippet of it, shown with the hit.
    pub text: String,
    /// The embedding; it is L2-normalised on insertion so that a dot product is the cosine.
    pub vector: Vec<f32>,
}

/// A search result, best first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    pub id: u64,
    pub page: String,
    pub heading: String,
    pub text: String,
    /// Cosine similarity to the query, in `[-1, 1]`.
    pub score: f32,
}

/// A chunk's metadata; its vector is the row of the same index in the matrix.
#[derive(Debug, Clone)]
struct Row {
    id: u64,
    heading: String,
    text: String,
}

/// The rows `start..start + len` belonging to one page.
#[derive(Debug, Clone)]
struct Run {
    path: String,
    start: usize,
    len: usize,
}

/// The chunk vectors of one wiki.
#[derive(Debug, Clone)]
pub struct VectorIndex {
    dim: usize,
    /// `rows.len() * dim` floats, row-major.
    vectors: Vec<f32>,
    rows: Vec<Row>,
    /// Pages in row order; their runs tile `rows` without gaps.
    runs: Vec<Run>,
    /// Page path to its position in `runs`.
    lookup: HashMap<String, usize>,
}

impl VectorIndex {
    /// An empty index of `dim`-dimensional vectors (the embedding model's output size).
    pub fn new(dim: usize) -> Self {
        VectorIndex {
            dim,
            vectors: Vec::new(),
            rows: Vec::new(),
            runs: Vec::new(),
            lookup: HashMap::new(),
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of chunks.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The pages that have chunks, so a caller can drop those that no longer exist.
    pub fn pages(&self) -> impl Iterator<Item = &str> {
        self.runs.iter().map(|run| run.path.as_str())
    }

    /// Replaces all chunks of a page (none removes it); on error the index is unchanged.
    pub fn upsert_page(&mut self, path: &str, chunks: Vec<ChunkVector>) -> Result<()> {
        for chunk in &chunks {
            self.check(&chunk.vector)?;
        }
        self.remove_page(path);
        if chunks.is_empty() {
            return Ok(());
        }
        let start = self.rows.len();
        self.vectors.reserve(chunks.len() * self.dim);
        self.rows.reserve(chunks.len());
        for chunk in chunks {
            let at = self.vectors.len();
            self.vectors.extend_from_slice(&chunk.vector);
            normalise(&mut self.vectors[at..]);
            self.rows.push(Row {
                id: chunk.id,
                heading: chunk.heading,
                text: chunk.text,
            });
        }
        self.push_run(path.to_owned(), start, self.rows.len() - start);
        Ok(())
    }

    /// Drops a page's chunks; returns whether it had any.
    pub fn remove_page(&mut self, path: &str) -> bool {
        let Some(i) = self.lookup.remove(path) else {
            return false;
        };
        let run = self.runs.remove(i);
        let end = run.start + run.len;
        self.rows.drain(run.start..end);
        self.vectors.drain(run.start * self.dim..end * self.dim);
        for (j, later) in self.runs.iter_mut().enumerate().skip(i) {
            later.start -= run.len;
            if let Some(slot) = self.lookup.get_mut(&later.path) {
                *slot = j;
            }
        }
        true
    }

    /// Moves a page's chunks to a new path, replacing any chunks already there (as a git rename
    /// onto an existing file would); returns whether `from` had any.
    pub fn rename_page(&mut self, from: &str, to: &str) -> bool {
        if from == to {
            return self.lookup.contains_key(from);
        }
        if !self.lookup.contains_key(from) {
            return false;
        }
        self.remove_page(to);
        let Some(i) = self.lookup.remove(from) else {
            return false;
        };
        self.runs[i].path = to.to_owned();
        self.lookup.insert(to.to_owned(), i);
        true
    }

    /// The `n` chunks most similar to `query`, at most `max_per_page` from any one page (0 gives
    /// nothing) and only from pages `allowed` accepts, best first; equal scores are ordered by
    /// page path, then by position in the page.
    pub fn search(
        &self,
        query: &[f32],
        n: usize,
        max_per_page: usize,
        allowed: impl Fn(&str) -> bool,
    ) -> Result<Vec<Hit>> {
        self.check(query)?;
        let per_page = max_per_page.min(n);
        if per_page == 0 || self.rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = query.to_vec();
        normalise(&mut query);
        // The best `n` of the union of every page's best `per_page` is exactly the answer; a
        // chunk that cannot beat the current `n`th best is skipped before the page's heap.
        let mut best: BinaryHeap<Reverse<Candidate<'_>>> = BinaryHeap::with_capacity(n.min(1024));
        let mut page_best: BinaryHeap<Reverse<Candidate<'_>>> = BinaryHeap::new();
        for run in &self.runs {
            if !allowed(&run.path) {
                continue;
            }
            page_best.clear();
            for ord in 0..run.len {
                let row = run.start + ord;
                let candidate = Candidate {
                    score: dot(&query, self.vector(row)),
                    page: &run.path,
                    ord,
                    row,
                };
                if best.len() == n && best.peek().is_some_and(|worst| candidate <= worst.0) {
                    continue;
                }
                push_bounded(&mut page_best, candidate, per_page);
            }
            for Reverse(candidate) in page_best.drain() {
                push_bounded(&mut best, candidate, n);
            }
        }
        let hits = best.into_sorted_vec().into_iter().map(|Reverse(c)| {
            let row = &self.rows[c.row];
            Hit {
                id: row.id,
                page: c.page.to_owned(),
                heading: row.heading.clone(),
                text: row.text.clone(),
                score: c.score,
            }
        });
        Ok(hits.collect())
    }

    /// Gives back the room left over from growing (after loading a whole wiki).
    pub fn shrink_to_fit(&mut self) {
        self.vectors.shrink_to_fit();
        self.rows.shrink_to_fit();
        self.runs.shrink_to_fit();
        self.lookup.shrink_to_fit();
    }

    /// An estimate of the heap memory held, for evicting idle wikis' indexes.
    pub fn memory_bytes(&self) -> usize {
        let strings: usize = self
            .rows
            .iter()
            .map(|r| r.heading.capacity() + r.text.capacity())
            .sum::<usize>()
            + self
                .runs
                .iter()
                .map(|r| 2 * r.path.capacity())
                .sum::<usize>();
        std::mem::size_of::<Self>()
            + self.vectors.capacity() * std::mem::size_of::<f32>()
            + self.rows.capacity() * std::mem::size_of::<Row>()
            + self.runs.capacity() * std::mem::size_of::<Run>()
            // Each map slot holds a key, a value and a control byte.
            + self.lookup.capacity() * (std::mem::size_of::<(String, usize)>() + 1)
            + strings
    }

    fn check(&self, vector: &[f32]) -> Result<()> {
        if vector.len() != self.dim {
            return Err(VectorError::DimMismatch {
                expected: self.dim,
                found: vector.len(),
            });
        }
        if !vector.iter().all(|x| x.is_finite()) {
            return Err(VectorError::NonFinite);
        }
        Ok(())
    }

    fn vector(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.dim..(row + 1) * self.dim]
    }

    fn push_run(&mut self, path: String, start: usize, len: usize) {
        self.lookup.insert(path.clone(), self.runs.len());
        self.runs.push(Run { path, start, len });
    }
}

/// A scored chunk during a search; greater is better.
#[derive(Debug, Clone, Copy)]
struct Candidate<'a> {
    score: f32,
    page: &'a str,
    /// The chunk's position in its page.
    ord: usize,
    /// Its row in the matrix; not part of the order.
    row: usize,
}

impl Ord for Candidate<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.page.cmp(self.page))
            .then_with(|| other.ord.cmp(&self.ord))
    }
}

impl PartialOrd for Candidate<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate<'_> {}

/// Keeps the `cap` greatest items in a min-heap.
fn push_bounded<T: Ord>(heap: &mut BinaryHeap<Reverse<T>>, item: T, cap: usize) {
    if heap.len() < cap {
        heap.push(Reverse(item));
    } else if let Some(mut worst) = heap.peek_mut()
        && item > worst.0
    {
        *worst = Reverse(item);
    }
}

/// A dot product with eight independent sums, which the compiler can vectorise.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for ((lane, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *lane += x * y;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// xorshift64*: deterministic data without a new crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn vector(&mut self, dim: usize) -> Vec<f32> {
            (0..dim)
                .map(|_| (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
                .collect()
        }
    }

    /// The pages of an index as plain data, kept alongside it as the model to check against.
    type Model = BTreeMap<String, Vec<ChunkVector>>;

    /// Random pages; some chunks repeat a vector across pages and within a page, so that equal
    /// scores occur and the tie order is exercised.
    fn random_pages(rng: &mut Rng, dim: usize, pages: usize, next_id: &mut u64) -> Model {
        let shared: Vec<Vec<f32>> = (0..3).map(|_| rng.vector(dim)).collect();
        let mut model = Model::new();
        for p in 0..pages {
            let count = 1 + rng.below(8) as usize;
            let chunks = (0..count)
                .map(|c| {
                    *next_id += 1;
                    let vector = if rng.below(5) == 0 {
                        shared[rng.below(3) as usize].clone()
                    } else {
                        rng.vector(dim)
                    };
                    ChunkVector {
                        id: *next_id,
                        heading: format!("H{c}"),
                        text: format!("chunk {c} of page {p}"),
                        vector,
                    }
                })
                .collect();
            model.insert(format!("page-{:03}.md", rng.below(1000)), chunks);
        }
        model
    }

    fn build(dim: usize, model: &Model) -> VectorIndex {
        let mut index = VectorIndex::new(dim);
        for (path, chunks) in model {
            index.upsert_page(path, chunks.clone()).unwrap();
        }
        index
    }

    /// Scores every chunk, sorts them all, then walks the list applying the filter and the cap.
    fn naive(
        model: &Model,
        query: &[f32],
        n: usize,
        max_per_page: usize,
        allowed: impl Fn(&str) -> bool,
    ) -> Vec<(u64, f32)> {
        let mut q = query.to_vec();
        normalise(&mut q);
        let mut all = Vec::new();
        for (path, chunks) in model {
            for (ord, chunk) in chunks.iter().enumerate() {
                let mut v = chunk.vector.clone();
                normalise(&mut v);
                all.push((dot(&q, &v), path.as_str(), ord, chunk.id));
            }
        }
        all.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then_with(|| a.1.cmp(b.1))
                .then_with(|| a.2.cmp(&b.2))
        });
        let mut taken: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::new();
        for (score, path, _, id) in all {
            if out.len() == n {
                break;
            }
            let count = taken.entry(path).or_default();
            if allowed(path) && *count < max_per_page {
                *count += 1;
                out.push((id, score));
            }
        }
        out
    }

    fn ids_and_scores(hits: &[Hit]) -> Vec<(u64, f32)> {
        hits.iter().map(|h| (h.id, h.score)).collect()
    }

    fn chunk(id: u64, vector: Vec<f32>) -> ChunkVector {
        ChunkVector {
            id,
            heading: String::new(),
            text: format!("chunk {id}"),
            vector,
        }
    }

    fn odd_pages(path: &str) -> bool {
        path.bytes().map(u32::from).sum::<u32>() % 2 == 1
    }

    #[test]
    fn search_equals_a_full_sort_for_many_n_and_caps() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for (dim, pages, queries) in [(13, 120, 6), (384, 40, 2)] {
            let model = random_pages(&mut rng, dim, pages, &mut 0);
            let index = build(dim, &model);
            assert_eq!(index.len(), model.values().map(Vec::len).sum::<usize>());
            for _ in 0..queries {
                let query = rng.vector(dim);
                for n in [0, 1, 2, 5, 17, 100, 10_000] {
                    for cap in [0, 1, 2, 3, usize::MAX] {
                        let got = index.search(&query, n, cap, |_| true).unwrap();
                        let want = naive(&model, &query, n, cap, |_| true);
                        assert_eq!(ids_and_scores(&got), want, "dim {dim}, n {n}, cap {cap}");
                        let got = index.search(&query, n, cap, odd_pages).unwrap();
                        let want = naive(&model, &query, n, cap, odd_pages);
                        assert_eq!(ids_and_scores(&got), want, "filtered, n {n}, cap {cap}");
                    }
                }
            }
        }
    }

    #[test]
    fn equal_scores_are_ordered_by_page_then_position() {
        let v = vec![1.0, 0.0, 0.0];
        let mut index = VectorIndex::new(3);
        index
            .upsert_page("b.md", vec![chunk(1, v.clone()), chunk(2, v.clone())])
            .unwrap();
        index
            .upsert_page("a.md", vec![chunk(3, v.clone())])
            .unwrap();
        index
            .upsert_page("c.md", vec![chunk(4, vec![0.0, 1.0, 0.0])])
            .unwrap();
        let hits = index.search(&v, 10, 10, |_| true).unwrap();
        let order: Vec<u64> = hits.iter().map(|h| h.id).collect();
        assert_eq!(order, [3, 1, 2, 4]);
        assert_eq!(hits[0].page, "a.md");
        assert_eq!(hits[0].text, "chunk 3");
        assert!((hits[0].score - 1.0).abs() < 1e-6);
        assert!(hits[3].score.abs() < 1e-6);
    }

    #[test]
    fn scores_are_cosines_whatever_the_input_lengths() {
        let mut rng = Rng(7);
        let dim = 21;
        let mut index = VectorIndex::new(dim);
        let vectors: Vec<Vec<f32>> = (0..40)
            .map(|i| rng.vector(dim).iter().map(|x| x * i as f32).collect())
            .collect();
        for (i, v) in vectors.iter().enumerate() {
            index
                .upsert_page(&format!("p{i}"), vec![chunk(i as u64, v.clone())])
                .unwrap();
        }
        let query: Vec<f32> = rng.vector(dim).iter().map(|x| x * 50.0).collect();
        let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        for hit in index.search(&query, 40, 1, |_| true).unwrap() {
            let v = &vectors[hit.id as usize];
            let dot: f64 = v
                .iter()
                .zip(&query)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            let cosine = if norm(v) == 0.0 {
                0.0
            } else {
                dot / (norm(v) * norm(&query))
            };
            assert!(
                (f64::from(hit.score) - cosine).abs() < 1e-5,
                "{hit:?} vs {cosine}"
            );
        }
    }

    #[test]
    fn max_per_page_and_the_filter_hold() {
        let mut rng = Rng(42);
        let model = random_pages(&mut rng, 16, 60, &mut 0);
        let index = build(16, &model);
        for cap in [1, 2, 4] {
            let hits = index.search(&rng.vector(16), 50, cap, odd_pages).unwrap();
            assert!(!hits.is_empty());
            let mut per_page: HashMap<&str, usize> = HashMap::new();
            for hit in &hits {
                assert!(odd_pages(&hit.page), "{} is not allowed", hit.page);
                *per_page.entry(&hit.page).or_default() += 1;
            }
            assert!(
                per_page.values().all(|&c| c <= cap),
                "cap {cap}: {per_page:?}"
            );
            assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        }
        assert!(
            index
                .search(&rng.vector(16), 50, 3, |_| false)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn edits_keep_search_equal_to_the_model() {
        let mut rng = Rng(2024);
        let dim = 10;
        let mut next_id = 0;
        let mut model = random_pages(&mut rng, dim, 30, &mut next_id);
        let mut index = build(dim, &model);
        for step in 0..300 {
            let paths: Vec<String> = model.keys().cloned().collect();
            let existing = |rng: &mut Rng| paths[rng.below(paths.len() as u64) as usize].clone();
            match rng.below(4) {
                0 => {
                    // Replace a page (existing or new) with fresh chunks, sometimes none.
                    let mut fresh = random_pages(&mut rng, dim, 1, &mut next_id);
                    let (path, mut chunks) = fresh.pop_first().unwrap();
                    let path = if rng.below(2) == 0 {
                        existing(&mut rng)
                    } else {
                        path
                    };
                    if rng.below(6) == 0 {
                        chunks.clear();
                    }
                    index.upsert_page(&path, chunks.clone()).unwrap();
                    model.remove(&path);
                    if !chunks.is_empty() {
                        model.insert(path, chunks);
                    }
                }
                1 => {
                    let path = existing(&mut rng);
                    assert!(index.remove_page(&path));
                    assert!(!index.remove_page(&path));
                    model.remove(&path);
                }
                _ => {
                    // Rename onto a new path or onto an existing page, which it replaces.
                    let from = existing(&mut rng);
                    let to = if rng.below(3) == 0 {
                        existing(&mut rng)
                    } else {
                        format!("renamed-{step}.md")
                    };
                    assert!(index.rename_page(&from, &to));
                    let chunks = model.remove(&from).unwrap();
                    model.insert(to, chunks);
                }
            }
            if model.is_empty() {
                model = random_pages(&mut rng, dim, 5, &mut next_id);
                index = build(dim, &model);
            }
            assert_eq!(index.len(), model.values().map(Vec::len).sum::<usize>());
            let mut pages: Vec<&str> = index.pages().collect();
            pages.sort();
            assert_eq!(pages, model.keys().map(String::as_str).collect::<Vec<_>>());
            let query = rng.vector(dim);
            for cap in [1, 3] {
                let got = index.search(&query, 25, cap, |_| true).unwrap();
                assert_eq!(
                    ids_and_scores(&got),
                    naive(&model, &query, 25, cap, |_| true)
                );
            }
        }
    }

    #[test]
    fn upsert_replaces_and_rename_and_remove_move_chunks() {
        let mut index = VectorIndex::new(2);
        index
            .upsert_page(
                "a.md",
                vec![chunk(1, vec![1.0, 0.0]), chunk(2, vec![0.0, 1.0])],
            )
            .unwrap();
        index
            .upsert_page("b.md", vec![chunk(3, vec![1.0, 1.0])])
            .unwrap();
        index
            .upsert_page("a.md", vec![chunk(4, vec![1.0, 0.1])])
            .unwrap();
        assert_eq!(index.len(), 2);
        let hits = index.search(&[1.0, 0.0], 10, 10, |_| true).unwrap();
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [4, 3]);

        assert!(index.rename_page("a.md", "c.md"));
        assert!(!index.rename_page("a.md", "d.md"));
        let hits = index.search(&[1.0, 0.0], 10, 10, |_| true).unwrap();
        assert_eq!(hits[0].page, "c.md");
        assert!(hits.iter().all(|h| h.page != "a.md"));

        assert!(index.rename_page("c.md", "b.md"), "onto an existing page");
        assert_eq!(index.len(), 1);
        assert_eq!(index.pages().collect::<Vec<_>>(), ["b.md"]);
        assert!(index.rename_page("b.md", "b.md"));

        assert!(index.remove_page("b.md"));
        assert!(index.is_empty());
        assert!(
            index
                .search(&[1.0, 0.0], 10, 10, |_| true)
                .unwrap()
                .is_empty()
        );
        assert!(index.upsert_page("e.md", Vec::new()).is_ok());
        assert!(index.is_empty());
    }

    #[test]
    fn bad_vectors_are_refused_and_change_nothing() {
        let mut index = VectorIndex::new(3);
        index
            .upsert_page("a.md", vec![chunk(1, vec![1.0, 0.0, 0.0])])
            .unwrap();
        let err = index
            .upsert_page(
                "a.md",
                vec![chunk(2, vec![0.0, 1.0, 0.0]), chunk(3, vec![1.0; 4])],
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                VectorError::DimMismatch {
                    expected: 3,
                    found: 4
                }
            ),
            "{err}"
        );
        let err = index
            .upsert_page("a.md", vec![chunk(2, vec![0.0, f32::NAN, 0.0])])
            .unwrap_err();
        assert!(matches!(err, VectorError::NonFinite), "{err}");
        let hits = index.search(&[1.0, 0.0, 0.0], 5, 5, |_| true).unwrap();
        assert_eq!(ids_and_scores(&hits), [(1, 1.0)]);
        let err = index.search(&[1.0, 0.0], 5, 5, |_| true).unwrap_err();
        assert!(
            matches!(
                err,
                VectorError::DimMismatch {
                    expected: 3,
                    found: 2
                }
            ),
            "{err}"
        );
        assert!(
            index
                .search(&[f32::INFINITY, 0.0, 0.0], 5, 5, |_| true)
                .is_err()
        );
    }

    #[test]
    fn memory_grows_with_the_chunks_and_shrinks_back() {
        let mut index = VectorIndex::new(384);
        let empty = index.memory_bytes();
        let chunks = (0..100).map(|i| chunk(i, vec![1.0; 384])).collect();
        index.upsert_page("a.md", chunks).unwrap();
        assert!(index.memory_bytes() >= empty + 100 * 384 * 4);
        index.remove_page("a.md");
        assert_eq!(index.len(), 0);
    }
}
