"""``hippo-memory bench synthetic``: the prototype's table, re-measured.

Rows:
- exact cue: the stored text as query, top-1 accuracy.
- paraphrase: a held-out statement phrasing (different words and structure) as
  query, top-1, with and without cue variants; also question phrasings.
- 3-hop chains among 500 background memories, and a 6-hop chain.
- scale at 1K / 5K / 20K memories with 3 cues each: accuracy, recall latency
  p50/p95 excluding query encoding (ranker included: the learned one unless
  ``--config ranker=fusion``), 3-hop chain latency, engine memory.
- index: the candidate stage alone at 1K to 60K cue vectors: exact (torch) against
  IVF search latency, and the share of the exact top 50 (``candidates``) that IVF finds (what
  ``HippoConfig.ivf_threshold`` is chosen from).

"With cue variants" stores two more phrasings per fact as cues, as an LLM
augmenter would write them; "default variants" uses only the LLM-free variants.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._config import HippoConfig
from .._encoder import Encoder, load_encoder
from ._args import add_cache_dir_argument, add_config_argument, int_list_text, positive_int
from ._enc_cache import DEFAULT_CACHE_DIR, CachedEncoder
from ._facts import Fact, make_facts

if TYPE_CHECKING:
    from .._memory import HippoMemory

__all__ = ["TemplateAugmenter", "register_command", "run"]


class TemplateAugmenter:
    """Stands in for an LLM paraphraser: returns known alternative phrasings."""

    def __init__(self, paraphrases: dict[str, list[str]]) -> None:
        self.paraphrases = paraphrases

    def augment(self, texts: Sequence[str]) -> list[list[str]]:
        """Alternative phrasings of each text (empty for unknown texts)."""
        return [self.paraphrases.get(t, []) for t in texts]


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - non-Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _augmenter(facts: list[Fact], n: int) -> TemplateAugmenter:
    return TemplateAugmenter({f.statement(0): [f.statement(i) for i in range(1, 1 + n)] for f in facts})


def _accuracy(
    mem: HippoMemory, encoder: Encoder, queries: list[str], targets: list[str], ns: tuple[str, ...]
) -> tuple[float, list[float]]:
    vectors = encoder.encode(queries)
    correct = 0
    latencies = []
    for vector, query, target in zip(vectors, queries, targets, strict=True):
        started = time.perf_counter()
        result = mem.recall_vector(vector, query=query, namespace=ns, k=1)
        latencies.append((time.perf_counter() - started) * 1e3)
        correct += bool(result.hits) and result.hits[0].memory.id == target
    return correct / max(1, len(queries)), latencies


class MemoEncoder:
    """Caches an encoder's vectors by text, so configurations sharing texts encode once."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``(n, dim)``, encoding only texts not seen before."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, vector in zip(missing, self.inner.encode(missing), strict=True):
                self._cache[text] = vector
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts]).astype(np.float32)


def _config(overrides: Mapping[str, Any], **fields: Any) -> HippoConfig:
    """The benchmark's config for a section: ``--config`` overrides, then its own fields."""
    return HippoConfig.create(**{**overrides, **fields})


def _quality(encoder: Encoder, n_facts: int, n_queries: int, seed: int, overrides: Mapping[str, Any]) -> dict[str, Any]:
    from .._memory import HippoMemory  # torch: imported only when the benchmark runs

    facts = make_facts(n_facts, seed=seed)
    sample = random.Random(seed).sample(range(n_facts), min(n_queries, n_facts))
    rows: dict[str, Any] = {}
    variants = {
        "no cue variants": (_config(overrides, cue_variants=False, durable=False), None),
        "default variants (no LLM)": (_config(overrides, durable=False), None),
        "with cue variants (2 paraphrases)": (_config(overrides, durable=False), _augmenter(facts, 2)),
    }
    for name, (config, augmenter) in variants.items():
        mem = HippoMemory(None, encoder=encoder, config=config, augmenter=augmenter)
        ids: list[str] = []
        for start in range(0, n_facts, 2000):
            ids += mem.remember_many([f.statement(0) for f in facts[start : start + 2000]], namespace=("bench",))
        targets = [ids[i] for i in sample]
        exact, _ = _accuracy(mem, encoder, [facts[i].statement(0) for i in sample], targets, ("bench",))
        para, _ = _accuracy(mem, encoder, [facts[i].statement(3) for i in sample], targets, ("bench",))
        question, _ = _accuracy(mem, encoder, [facts[i].question(0) for i in sample], targets, ("bench",))
        rows[name] = {
            "exact": exact,
            "paraphrase": para,
            "question": question,
            "cue_vectors": mem.stats()["cue_vectors"],
        }
        mem.close()
    return {"n_facts": n_facts, "n_queries": len(sample), "variants": rows}


def _chains(
    encoder: Encoder, n_chains: int, length: int, background: int, seed: int, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    from .._memory import HippoMemory  # torch: imported only when the benchmark runs

    facts = make_facts(n_chains * (length + 1) + background, seed=seed + 1)
    mem = HippoMemory(None, encoder=encoder, config=_config(overrides))
    ns = ("chains",)
    back_ids = mem.remember_many([f.statement(0) for f in facts[:background]], namespace=ns, session="background")
    del back_ids
    chains: list[list[str]] = []
    offset = background
    for _ in range(n_chains):
        members = facts[offset : offset + length + 1]
        offset += length + 1
        ids = mem.remember_many([f.statement(0) for f in members], namespace=ns)
        for a, b in itertools.pairwise(ids):
            mem.associate(a, b)
        chains.append(ids)
    full = hop_correct = start_correct = 0
    latencies = []
    for index, ids in enumerate(chains):
        query = facts[background + index * (length + 1)].statement(0)
        vector = encoder.encode([query])[0]
        started = time.perf_counter()
        chain = _chain_from_vector(mem, vector, query, length, ns)
        latencies.append((time.perf_counter() - started) * 1e3)
        got = [h.memory.id for h in chain]
        start_correct += bool(got) and got[0] == ids[0]
        full += got == ids
        hop_correct += sum(1 for a, b in zip(got[1:], ids[1:], strict=False) if a == b)
    mem.close()
    return {
        "chains": n_chains,
        "hops": length,
        "background": background,
        "start_accuracy": start_correct / n_chains,
        "chain_accuracy": full / n_chains,
        "hop_accuracy": hop_correct / (n_chains * length),
        "latency_p50_ms": _percentile(latencies, 50),
    }


def _chain_from_vector(mem: HippoMemory, vector: np.ndarray, query: str, hops: int, ns: tuple[str, ...]) -> Any:
    return mem.recall_chain(query, hops=hops, namespace=ns, vector=vector)


def _scale(
    encoder: Encoder,
    sizes: list[int],
    seed: int,
    queries_per_size: int,
    store_dir: Path,
    overrides: Mapping[str, Any],
) -> list[dict[str, Any]]:
    from .._memory import HippoMemory  # torch: imported only when the benchmark runs

    largest = max(sizes)
    facts = make_facts(largest, seed=seed)
    config = _config(overrides, max_cues=3, durable=False)
    gc.collect()
    rss_before = _rss_mb()
    mem = HippoMemory(store_dir / "scale", encoder=encoder, config=config, augmenter=_augmenter(facts, 2))
    ns = ("scale",)
    ids: list[str] = []
    rows = []
    rng = random.Random(seed)
    ingest_seconds = 0.0
    # chains of 4 among the scale memories for chain latency
    for size in sorted(sizes):
        batch = facts[len(ids) : size]
        started = time.perf_counter()
        for start in range(0, len(batch), 1000):
            ids += mem.remember_many([f.statement(0) for f in batch[start : start + 1000]], namespace=ns)
        ingest_seconds += time.perf_counter() - started
        chain_ids = ids[-40:]
        for a, b in zip(chain_ids[0::4], chain_ids[1::4], strict=False):
            mem.associate(a, b)
        for a, b in zip(chain_ids[1::4], chain_ids[2::4], strict=False):
            mem.associate(a, b)
        for a, b in zip(chain_ids[2::4], chain_ids[3::4], strict=False):
            mem.associate(a, b)
        sample = rng.sample(range(size), min(queries_per_size, size))
        para_acc, latencies = _accuracy(
            mem, encoder, [facts[i].statement(3) for i in sample], [ids[i] for i in sample], ns
        )
        q_acc, q_lat = _accuracy(mem, encoder, [facts[i].question(0) for i in sample], [ids[i] for i in sample], ns)
        latencies += q_lat
        chain_lat = []
        for first in range(len(ids) - 40, len(ids), 4):
            query = facts[first].statement(0)
            vector = encoder.encode([query])[0]
            started = time.perf_counter()
            _chain_from_vector(mem, vector, query, 3, ns)
            chain_lat.append((time.perf_counter() - started) * 1e3)
        gc.collect()
        stats = mem.stats()
        rows.append(
            {
                "memories": size,
                "cue_vectors": stats["cue_vectors"],
                "index": stats["index"],
                "paraphrase_accuracy": para_acc,
                "question_accuracy": q_acc,
                "recall_p50_ms": _percentile(latencies, 50),
                "recall_p95_ms": _percentile(latencies, 95),
                "chain3_p50_ms": _percentile(chain_lat, 50),
                "engine_mb": stats["engine_bytes"] / 2**20,
                "rss_delta_mb": _rss_mb() - rss_before,
                "ingest_memories_per_s": len(ids) / ingest_seconds,
            }
        )
    mem.close()
    return rows


def _index_section(
    encoder: Encoder, vector_counts: Sequence[int], seed: int, n_queries: int, overrides: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The candidate stage alone: exact against IVF, on the scale section's cue texts."""
    from .._index import CueIndex  # torch/faiss: imported only when the benchmark runs

    config = _config(overrides)
    largest = max(vector_counts)
    facts = make_facts(-(-largest // 3), seed=seed)
    texts = [f.statement(j) for f in facts for j in range(3)][:largest]
    vectors = encoder.encode(texts)
    rng = random.Random(seed)
    rows = []
    for count in sorted(vector_counts):
        owners = rng.sample(range(max(1, count // 3)), min(n_queries, max(1, count // 3)))
        queries = encoder.encode([facts[i].question(0) for i in owners])
        exact = CueIndex(vectors.shape[1], kind="exact")
        exact.add(vectors[:count], np.arange(count, dtype=np.int64))
        ivf = CueIndex(vectors.shape[1], kind="ivf", nprobe=config.ivf_nprobe)
        ivf.add(vectors[:count], np.arange(count, dtype=np.int64))
        timings: dict[str, list[float]] = {"exact": [], "ivf": []}
        found = 0.0
        for query in queries:
            tops = {}
            for name, index in (("exact", exact), ("ivf", ivf)):
                index.search(query, config.candidates)  # warm
                started = time.perf_counter()
                top, _ = index.search(query, config.candidates)
                timings[name].append((time.perf_counter() - started) * 1e3)
                tops[name] = set(top.tolist())
            found += len(tops["exact"] & tops["ivf"]) / max(1, len(tops["exact"]))
        rows.append(
            {
                "cue_vectors": count,
                "exact_p50_ms": _percentile(timings["exact"], 50),
                "ivf_p50_ms": _percentile(timings["ivf"], 50),
                "ivf_recall_of_exact_top": found / max(1, len(queries)),
                "top": config.candidates,
                "ivf_nlist": 0 if ivf.ivf_centroids is None else int(ivf.ivf_centroids.shape[0]),
                "ivf_nprobe": config.ivf_nprobe,
            }
        )
    return rows


_RSS_PROBE = """
import json, resource, sys, time
import numpy as np
from hippo_memory import HippoConfig, HippoMemory, load_encoder

def rss_mb():
    with open("/proc/self/statm") as handle:
        import os
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

spec = json.loads(sys.argv[1])
queries = np.load(spec["queries"])
encoder = load_encoder(spec["encoder"])
mem = HippoMemory(spec["path"], encoder=encoder, config=HippoConfig(**spec["config"]))
opened = rss_mb()
started = time.perf_counter()
for t in range(spec["tenants"]):
    mem.recall_vector(queries[t % len(queries)], namespace=("tenants", f"t{t:05d}"), k=5)
seconds = time.perf_counter() - started
stats = mem.stats()
print(json.dumps({
    "rss_open_mb": opened,
    "rss_after_mb": rss_mb(),
    "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "engine_mb": stats["engine_bytes"] / 2**20,
    "partitions_loaded": stats["partitions_loaded"],
    "recall_with_loads_ms": seconds * 1e3 / spec["tenants"],
}))
"""
"""Run in a fresh process by the tenants section: one engine using every tenant once, its RSS."""


def _tenants(
    encoder: Encoder,
    seed: int,
    n_queries: int,
    store_dir: Path,
    overrides: Mapping[str, Any],
    *,
    tenant_size: int = 1000,
    other_tenants: int = 1000,
    per_tenant: int = 200,
    cold_size: int = 10_000,
    budget_mb: float = 500.0,
) -> dict[str, Any]:
    """One tenant's recall alone and beside many others in the same store; cold loads; RSS under a budget.

    Every memory is stored under its text alone (``cue_variants=False``): the section
    measures the partitioning, and the other tenants' texts come from one pool of
    facts, so their encodings are shared (and cached on disk across runs).
    """
    from .._memory import HippoMemory  # torch: imported only when the benchmark runs

    pool = make_facts(max(20_000, tenant_size, cold_size), seed=seed)
    config = _config(overrides, cue_variants=False, durable=False, partition_budget_mb=None)
    target = ("tenants", "target")
    rng = random.Random(seed)
    sample = rng.sample(range(tenant_size), min(n_queries, tenant_size))
    questions = [pool[i].question(0) for i in sample]
    vectors = encoder.encode(questions)

    def timed(mem: HippoMemory, i: int) -> tuple[float, bool]:
        started = time.perf_counter()
        result = mem.recall_vector(vectors[i], query=questions[i], namespace=target, k=5)
        ms = (time.perf_counter() - started) * 1e3
        return ms, bool(result.hits) and result.hits[0].memory.metadata.get("fact") == sample[i]

    def write_target(mem: HippoMemory) -> None:
        for start in range(0, tenant_size, 1000):
            stop = min(tenant_size, start + 1000)
            mem.remember_many(
                [{"text": pool[i].statement(0), "metadata": {"fact": i}} for i in range(start, stop)],
                namespace=target,
            )

    # Two stores in one process: the tenant alone, and the same tenant beside the others.
    # Their recalls alternate query by query, so load on the machine hits both alike.
    path = store_dir / "tenants"
    alone = HippoMemory(store_dir / "alone", encoder=encoder, config=config)
    write_target(alone)
    mem = HippoMemory(path, encoder=encoder, config=config)
    write_target(mem)
    started = time.perf_counter()
    offset = tenant_size
    for t in range(other_tenants):
        texts = [pool[(offset + j) % len(pool)].statement(0) for j in range(per_tenant)]
        offset += per_tenant
        mem.remember_many(texts, namespace=("tenants", f"t{t:05d}"))
    ingest_s = time.perf_counter() - started
    timed(alone, 0), timed(mem, 0)  # warm
    alone_ms: list[float] = []
    beside_ms: list[float] = []
    alone_hits = beside_hits = 0
    for i in range(len(questions)):
        ms, hit = timed(alone, i)
        alone_ms.append(ms)
        alone_hits += hit
        ms, hit = timed(mem, i)
        beside_ms.append(ms)
        beside_hits += hit
    alone.close()
    alone_p50, beside_p50 = _percentile(alone_ms, 50), _percentile(beside_ms, 50)
    alone_acc, beside_acc = alone_hits / len(questions), beside_hits / len(questions)
    big = ("tenants", "big")
    for start in range(0, cold_size, 1000):
        mem.remember_many([pool[i].statement(1) for i in range(start, min(cold_size, start + 1000))], namespace=big)
    big_vector = encoder.encode([pool[0].question(1)])[0]
    mem.close()

    # Cold load: the first recall in a 10K tenant after reopening, less a warm recall there.
    mem = HippoMemory(path, encoder=encoder, config=config)
    started = time.perf_counter()
    mem.recall_vector(big_vector, query=pool[0].question(1), namespace=big, k=5)
    first_ms = (time.perf_counter() - started) * 1e3
    started = time.perf_counter()
    mem.recall_vector(big_vector, query=pool[0].question(1), namespace=big, k=5)
    warm_ms = (time.perf_counter() - started) * 1e3
    mem.close()

    # Every tenant used once, under the budget and without one, each in a fresh process:
    # RSS in this one still holds what the phases above freed.
    rss: dict[str, Any] = {}
    queries = store_dir / "queries.npy"
    np.save(queries, np.asarray(vectors, dtype=np.float32))
    for label, budget in (("budget", budget_mb), ("unbounded", None)):
        spec = {
            "path": str(path),
            "encoder": encoder.name,
            "config": config.model_copy(update={"partition_budget_mb": budget}).model_dump(),
            "queries": str(queries),
            "tenants": other_tenants,
        }
        done = subprocess.run(
            [sys.executable, "-c", _RSS_PROBE, json.dumps(spec)], capture_output=True, text=True, check=True
        )
        rss[label] = {"budget_mb": budget, **json.loads(done.stdout.strip().splitlines()[-1])}
    return {
        "tenant_memories": tenant_size,
        "other_tenants": other_tenants,
        "other_memories": other_tenants * per_tenant,
        "recall_p50_alone_ms": alone_p50,
        "recall_p50_beside_ms": beside_p50,
        "ratio": beside_p50 / alone_p50,
        "accuracy_alone": alone_acc,
        "accuracy_beside": beside_acc,
        "ingest_memories_per_s": other_tenants * per_tenant / ingest_s,
        "cold_partition_memories": cold_size,
        "cold_load_ms": first_ms - warm_ms,
        "warm_recall_ms": warm_ms,
        "rss": rss,
    }


def run(
    *,
    encoder_name: str | None = None,
    sizes: Sequence[int] = (1000, 5000, 20000),
    quality_facts: int = 20000,
    queries_per_size: int = 500,
    seed: int = 0,
    sections: Sequence[str] = ("quality", "chains", "scale", "index"),
    index_sizes: Sequence[int] = (1000, 2000, 4000, 8000, 16000, 32000, 60000),
    cache_dir: str | os.PathLike[str] | None = DEFAULT_CACHE_DIR,
    overrides: Mapping[str, Any] | None = None,
    other_tenants: int = 1000,
) -> dict[str, Any]:
    """Run the benchmark and return the results as a JSON-ready dict.

    Args:
        encoder_name: Model name or path (default all-MiniLM-L6-v2).
        sizes: Store sizes of the scale section.
        quality_facts: Facts stored for the cue-variant comparison.
        queries_per_size: Queries per scale point.
        seed: Seed of the facts and samples.
        sections: Which of ``quality``, ``chains``, ``scale``, ``index``, ``tenants`` to run.
        index_sizes: Cue-vector counts of the index section.
        cache_dir: Where encodings are cached on disk (a rerun encodes nothing);
            ``None`` encodes everything afresh.
        overrides: ``HippoConfig`` fields for every memory of the run.
        other_tenants: Tenants of 200 memories beside the measured one (``tenants`` section).
    """
    overrides = dict(overrides or {})
    config = HippoConfig.create(**overrides)  # fail on a bad override before encoding anything
    inner = load_encoder(encoder_name)
    cached = CachedEncoder(inner, cache_dir) if cache_dir is not None else None
    encoder = MemoEncoder(cached if cached is not None else inner)
    results: dict[str, Any] = {
        "benchmark": "synthetic",
        "encoder": encoder.name,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "seed": seed,
        "config_overrides": overrides,
        "ranker": config.ranker,  # recall latencies include it (the learned model by default)
    }
    try:
        if "quality" in sections:
            results["quality"] = _quality(encoder, quality_facts, queries_per_size * 4, seed, overrides)
        if "chains" in sections:
            results["chains"] = [
                _chains(encoder, 100, 3, 500, seed, overrides),
                _chains(encoder, 20, 6, 500, seed, overrides),
            ]
        if "scale" in sections:
            with tempfile.TemporaryDirectory() as tmp:
                results["scale"] = _scale(encoder, list(sizes), seed, queries_per_size, Path(tmp), overrides)
        if "index" in sections:
            results["index"] = _index_section(encoder, index_sizes, seed, min(200, queries_per_size), overrides)
        if "tenants" in sections:
            with tempfile.TemporaryDirectory() as tmp:
                results["tenants"] = _tenants(
                    encoder, seed, min(200, queries_per_size), Path(tmp), overrides, other_tenants=other_tenants
                )
    finally:
        if cached is not None:
            cached.close()
    return results


def format_table(results: dict[str, Any]) -> str:
    """Human-readable table of :func:`run`'s results."""
    ranker = results.get("ranker", "learned")
    lines = [f"encoder: {results['encoder']}   ranker: {ranker}   machine: {results['machine']}"]
    if "quality" in results:
        q = results["quality"]
        lines += [
            "",
            f"Recall@1 on {q['n_facts']} templated facts",
            f"{'configuration':36} {'exact':>7} {'paraphrase':>11} {'question':>9}",
        ]
        for name, row in q["variants"].items():
            lines.append(f"{name:36} {row['exact']:7.1%} {row['paraphrase']:11.1%} {row['question']:9.1%}")
    if "chains" in results:
        lines += ["", f"{'chains':28} {'start':>7} {'hops ok':>8} {'chain ok':>9} {'p50 ms':>7}"]
        for row in results["chains"]:
            label = f"{row['chains']} x {row['hops']}-hop, {row['background']} background"
            lines.append(
                f"{label:28} {row['start_accuracy']:7.1%} {row['hop_accuracy']:8.1%} {row['chain_accuracy']:9.1%} {row['latency_p50_ms']:7.2f}"
            )
    if "scale" in results:
        lines += [
            "",
            f"{'memories':>8} {'cues':>6} {'index':>6} {'para':>6} {'quest':>6} {'p50 ms':>7} {'p95 ms':>7} {'chain3':>7} {'engine MB':>9} {'RSS+ MB':>8} {'mem/s':>6}",
        ]
        for row in results["scale"]:
            lines.append(
                f"{row['memories']:8d} {row['cue_vectors']:6d} {row['index']:>6} {row['paraphrase_accuracy']:6.1%} "
                f"{row['question_accuracy']:6.1%} {row['recall_p50_ms']:7.3f} {row['recall_p95_ms']:7.3f} "
                f"{row['chain3_p50_ms']:7.3f} {row['engine_mb']:9.1f} {row['rss_delta_mb']:8.1f} {row['ingest_memories_per_s']:6.0f}"
            )
    if "index" in results:
        lines += [
            "",
            "Candidate stage alone (top {top}): exact torch product against IVF".format(top=results["index"][0]["top"]),
            f"{'cue vectors':>11} {'exact ms':>9} {'ivf ms':>7} {'ivf finds':>10} {'nlist':>6}",
        ]
        for row in results["index"]:
            lines.append(
                f"{row['cue_vectors']:11d} {row['exact_p50_ms']:9.3f} {row['ivf_p50_ms']:7.3f} "
                f"{row['ivf_recall_of_exact_top']:10.1%} {row['ivf_nlist']:6d}"
            )
    if "tenants" in results:
        t = results["tenants"]
        lines += [
            "",
            f"One tenant of {t['tenant_memories']} memories, alone and beside {t['other_memories']} memories "
            f"in {t['other_tenants']} other tenants",
            f"  recall p50 alone {t['recall_p50_alone_ms']:.3f} ms, beside {t['recall_p50_beside_ms']:.3f} ms: "
            f"ratio {t['ratio']:.2f} (top-1 {t['accuracy_alone']:.1%} / {t['accuracy_beside']:.1%})",
            f"  cold load of a {t['cold_partition_memories']}-memory partition: {t['cold_load_ms']:.1f} ms "
            f"(then {t['warm_recall_ms']:.2f} ms warm); ingest {t['ingest_memories_per_s']:.0f} memories/s",
        ]
        for row in t["rss"].values():
            budget = "none" if row["budget_mb"] is None else f"{row['budget_mb']:.0f} MB"
            lines.append(
                f"  every tenant used once in a fresh process, budget {budget}: RSS {row['rss_open_mb']:.0f} MB "
                f"open -> {row['rss_after_mb']:.0f} MB (peak {row['rss_peak_mb']:.0f}), engine "
                f"{row['engine_mb']:.0f} MB in {row['partitions_loaded']} partitions, "
                f"{row['recall_with_loads_ms']:.1f} ms per recall incl. loads"
            )
    return "\n".join(lines)


def register_command(bench: Any) -> None:
    """Add ``synthetic`` to the ``hippo-memory bench`` subcommands."""
    parser = bench.add_parser("synthetic", help="paraphrase, chain and scale benchmark on templated facts")
    parser.add_argument("--encoder", default=None, help="model name or path (default all-MiniLM-L6-v2)")
    parser.add_argument("--sizes", type=int_list_text, default="1000,5000,20000", help="comma-separated store sizes")
    parser.add_argument(
        "--quality-facts", type=positive_int, default=20000, help="facts stored for the cue-variant comparison"
    )
    parser.add_argument("--queries", type=positive_int, default=500, help="queries per scale point")
    parser.add_argument(
        "--sections", default="quality,chains,scale,index", help="comma-separated; also: tenants (partitions)"
    )
    parser.add_argument(
        "--tenants", type=positive_int, default=1000, help="other tenants of 200 memories (tenants section)"
    )
    parser.add_argument(
        "--index-sizes",
        type=int_list_text,
        default="1000,2000,4000,8000,16000,32000,60000",
        help="cue-vector counts of the index section",
    )
    parser.add_argument("--seed", type=int, default=0)
    add_cache_dir_argument(parser, ", 'none' for no cache")
    add_config_argument(parser, "every memory of the run", "ivf_nprobe=16")
    parser.add_argument("--json", dest="json_out", default="bench_results/synthetic.json")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        HippoConfig.create(**dict(args.config))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = run(
        encoder_name=args.encoder,
        sizes=[int(s) for s in args.sizes.split(",") if s],
        quality_facts=args.quality_facts,
        queries_per_size=args.queries,
        seed=args.seed,
        sections=[s.strip() for s in args.sections.split(",") if s.strip()],
        index_sizes=[int(s) for s in args.index_sizes.split(",") if s],
        cache_dir=None if args.cache_dir.lower() == "none" else args.cache_dir,
        overrides=dict(args.config),
        other_tenants=args.tenants,
    )
    print(format_table(results))
    if args.json_out:
        out = Path(args.json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        print(f"\nwrote {out}")
    return 0
