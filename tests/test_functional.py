"""The maths: winner-take-all codes, Hopfield settle, pooling, the factored Hebbian matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hippo_memory import functional as F


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def test_random_projection_is_seeded() -> None:
    a = F.random_projection(16, 64, seed=3)
    b = F.random_projection(16, 64, seed=3)
    c = F.random_projection(16, 64, seed=4)
    assert a.shape == (16, 64) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_wta_code_has_k_sorted_unique_winners() -> None:
    projection = F.random_projection(32, 512, seed=0)
    x = _unit(torch.randn(5, 32, generator=torch.Generator().manual_seed(1)))
    codes = F.wta_code(x, projection, k=20)
    assert codes.shape == (5, 20) and codes.dtype == torch.int64
    for row in codes:
        assert torch.all(row[1:] > row[:-1])  # sorted and unique
    field = x @ projection
    for i in range(5):
        winners = set(codes[i].tolist())
        losers = [u for u in range(512) if u not in winners]
        assert field[i, codes[i]].min() >= field[i, losers].max()


def test_wta_separates_patterns_but_keeps_similar_ones_close() -> None:
    gen = torch.Generator().manual_seed(0)
    projection = F.random_projection(64, 4096, seed=0)
    base = _unit(torch.randn(1, 64, generator=gen))
    near = _unit(base + 0.03 * torch.randn(1, 64, generator=gen))  # cosine ~0.97
    far = _unit(torch.randn(1, 64, generator=gen))
    codes = F.wta_code(torch.cat([base, near, far]), projection, k=50)
    overlap_near = len(set(codes[0].tolist()) & set(codes[1].tolist()))
    overlap_far = len(set(codes[0].tolist()) & set(codes[2].tolist()))
    assert overlap_near > 20
    assert overlap_far < 5


def test_settle_without_steps_is_softmax_of_similarities() -> None:
    patterns = _unit(torch.randn(6, 8, generator=torch.Generator().manual_seed(2)))
    query = patterns[3]
    state, attention = F.settle(query, patterns, beta=4.0, steps=0)
    assert torch.equal(state, query)
    torch.testing.assert_close(attention, torch.softmax(4.0 * patterns @ query, dim=0))
    assert attention.sum().item() == pytest.approx(1.0, abs=1e-6)


def test_settle_steps_move_a_noisy_state_onto_the_stored_pattern() -> None:
    gen = torch.Generator().manual_seed(5)
    patterns = _unit(torch.randn(10, 64, generator=gen))
    noisy = _unit(patterns[7] + 0.6 * _unit(torch.randn(64, generator=gen)))
    _, before = F.settle(noisy, patterns, beta=8.0, steps=0)
    state, after = F.settle(noisy, patterns, beta=8.0, steps=3)
    assert after.argmax().item() == 7
    assert after[7] > before[7]
    assert torch.nn.functional.cosine_similarity(state, patterns[7], dim=0) > 0.95


def test_settle_with_no_patterns_returns_empty_attention() -> None:
    query = torch.ones(4)
    state, attention = F.settle(query, torch.zeros(0, 4), beta=1.0, steps=2)
    assert attention.shape == (0,) and torch.equal(state, query)


def test_pool_by_owner_sums_attention_per_memory() -> None:
    values = torch.tensor([0.1, 0.2, 0.3, 0.4])
    owners = torch.tensor([2, 0, 2, 1])
    torch.testing.assert_close(F.pool_by_owner(values, owners, 3), torch.tensor([0.2, 0.4, 0.4]))


def _inverted(codes: np.ndarray, code_dim: int) -> tuple[np.ndarray, np.ndarray]:
    units = codes.ravel()
    owners = np.repeat(np.arange(codes.shape[0]), codes.shape[1])
    order = np.argsort(units, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(units, minlength=code_dim))])
    return ptr.astype(np.int64), owners[order].astype(np.int64)


def test_code_overlaps_match_dense_computation() -> None:
    rng = np.random.default_rng(0)
    code_dim, k, n = 200, 12, 30
    codes = np.stack([np.sort(rng.choice(code_dim, k, replace=False)) for _ in range(n)])
    ptr, members = _inverted(codes, code_dim)
    dense = np.zeros((n, code_dim))
    dense[np.arange(n)[:, None], codes] = 1
    probe = codes[4]
    expected = dense[:, probe].sum(axis=1)
    np.testing.assert_array_equal(F.code_overlaps(probe, ptr, members, n), expected)
    np.testing.assert_allclose(F.cleanup(probe, ptr, members, n, k), expected / k)
    assert F.cleanup(probe, ptr, members, n, k).argmax() == 4


def test_factored_hebbian_field_equals_dense_outer_product_matrix() -> None:
    rng = np.random.default_rng(1)
    code_dim, k, n = 300, 10, 8
    codes = np.stack([np.sort(rng.choice(code_dim, k, replace=False)) for _ in range(n)])
    dense = np.zeros((n, code_dim), dtype=np.float32)
    dense[np.arange(n)[:, None], codes] = 1
    links = {(0, 1): 1.0, (1, 2): 0.5, (0, 3): 0.25}
    W = np.zeros((code_dim, code_dim), dtype=np.float32)
    for (src, dst), strength in links.items():
        W += strength * np.outer(dense[dst], dense[src])
    state = dense[0]
    # Drive per target = overlap(state, source)/k * strength, as the engine computes it.
    drive = np.zeros(n, dtype=np.float32)
    for (src, dst), strength in links.items():
        drive[dst] += (state @ dense[src]) / k * strength
    field = F.hebbian_field(drive, codes, code_dim)
    np.testing.assert_allclose(field, (W @ state) / k, rtol=1e-6)
    winners = F.wta_from_field(field, k)
    np.testing.assert_array_equal(winners, codes[1])  # strongest association wins


def test_wta_from_field_handles_empty_and_small_fields() -> None:
    assert F.wta_from_field(np.zeros(10, dtype=np.float32), 3).size == 0
    field = np.zeros(10, dtype=np.float32)
    field[[2, 7]] = [1.0, 2.0]
    np.testing.assert_array_equal(F.wta_from_field(field, 5), [2, 7])


def test_wta_from_field_breaks_ties_at_the_cut_towards_low_units() -> None:
    field = np.zeros(20, dtype=np.float32)
    field[[3, 5, 9, 12]] = [2.0, 1.0, 1.0, 1.0]
    np.testing.assert_array_equal(F.wta_from_field(field, 2), [3, 5])
    np.testing.assert_array_equal(F.wta_from_field(field, 3), [3, 5, 9])


@pytest.mark.parametrize("seed", range(5))
def test_sparse_hebbian_winners_equal_the_dense_field_path(seed: int) -> None:
    rng = np.random.default_rng(seed)
    code_dim, k, n = 64, 8, 40  # a small code space, so target codes overlap and sum
    codes = np.stack([np.sort(rng.choice(code_dim, k, replace=False)) for _ in range(n)]).astype(np.int32)
    targets = np.sort(rng.choice(n, int(rng.integers(1, 6)), replace=False)).astype(np.int64)
    drive = rng.choice([0.25, 0.5, 1.0, 1.5], targets.size).astype(np.float32)
    dense = np.zeros(n, dtype=np.float32)
    dense[targets] = drive
    expected = F.wta_from_field(F.hebbian_field(dense, codes, code_dim), k)
    np.testing.assert_array_equal(F.hebbian_winners(targets, drive, codes, k), expected)
    assert F.hebbian_winners(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), codes, k).size == 0


def test_reciprocal_rank_fusion_weights_ranks_and_normalises() -> None:
    ranks = np.array([[0, 1, 2, -1], [1, -1, 0, 2]], dtype=np.int64)
    fused = F.reciprocal_rank_fusion(ranks, np.array([1.0, 2.0]), 20.0)
    expected = (
        np.array(
            [1 / 21 + 2 / 22, 1 / 22, 1 / 23 + 2 / 21, 2 / 23],
        )
        * 21
        / 3
    )
    np.testing.assert_allclose(fused, expected, rtol=1e-6)
    assert F.reciprocal_rank_fusion(np.zeros((2, 3), np.int64), np.array([1.0, 1.0]), 60.0).tolist() == [1.0] * 3
    assert F.reciprocal_rank_fusion(np.full((1, 2), -1), np.array([1.0]), 60.0).tolist() == [0.0, 0.0]
    assert F.reciprocal_rank_fusion(ranks, np.zeros(2), 60.0).tolist() == [0.0] * 4


def test_pooled_attention_equals_torch_settle_then_pool() -> None:
    gen = torch.Generator().manual_seed(3)
    patterns = _unit(torch.randn(40, 16, generator=gen))
    query = _unit(torch.randn(16, generator=gen))
    owners = torch.randint(0, 9, (40,), generator=gen)
    _, attention = F.settle(query, patterns, 16.0, 0)
    pooled = F.pool_by_owner(attention, owners, 9)
    sims = (patterns @ query).numpy()
    np_attention, np_pooled = F.pooled_attention(sims, owners.numpy(), 9, 16.0)
    np.testing.assert_allclose(np_attention, attention.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np_pooled, pooled.numpy(), rtol=1e-5, atol=1e-7)
    assert np_pooled.dtype == np.float32 and np_attention.sum() == pytest.approx(1.0)
    empty_attention, empty_pooled = F.pooled_attention(np.zeros(0, np.float32), np.zeros(0, np.int64), 3, 16.0)
    assert empty_attention.shape == (0,) and empty_pooled.tolist() == [0.0, 0.0, 0.0]
