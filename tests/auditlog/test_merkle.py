"""``mlwarden.auditlog._merkle``: RFC 9162 (RFC 6962) Merkle tree hashing, proofs and their verification.

The published Certificate Transparency vectors (transparency-dev/merkle ``testonly`` and
certificate-transparency-go) pin the hashing, the roots at every size from 0 to 8 and some audit
and consistency paths. Every tree of 1 to 40 leaves is then checked exhaustively: each inclusion
and consistency proof verifies, and each mutation of it (wrong index, size, leaf or root, a
flipped bit, an element dropped, added or inserted) fails.

A proof does not always pin the tree size: the verifiers of RFC 9162 accept a proof for any size
whose tree has the same *shape* on the leaf's path (the same sides, bottom up), since the root
binds the size (and a checkpoint signs both). The wrong-size checks therefore compare against an
independent oracle of that shape, written from the recursive definitions of PATH and PROOF, and
also require the probes transparency-dev uses (size * 2, size / 2) to fail outright.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwarden.auditlog._merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# -- the published Certificate Transparency vectors -------------------------------------------

CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
CT_LEAF_HASHES = [leaf_hash(data) for data in CT_LEAVES]
CT_INCLUSION_PROOFS = {
    0: [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    5: [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CT_CONSISTENCY_2_TO_8 = [
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]
# A 7-leaf tree of the single bytes 0..6 (a less authoritative source, but it agrees).
SEVEN_BYTE_LEAVES_ROOT = "3560191803028444b232018ac047fdb561c09c23a7a6876c85e08b5e4d48e9f3"

SOME_HASH = hashlib.sha256(b"some other hash").digest()
MAX_EXHAUSTIVE = 40
LEAVES = [leaf_hash(i.to_bytes(2, "big")) for i in range(2 * MAX_EXHAUSTIVE + 4)]
SIZES = range(1, MAX_EXHAUSTIVE + 1)


def _hex(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _inclusion_shape(index: int, size: int) -> tuple[str, ...]:
    """The sides of PATH(index, D[size]) bottom up (RFC 9162 2.1.3.1): 'R' sibling right, 'L' left."""
    if size == 1:
        return ()
    k = _split(size)
    if index < k:
        return (*_inclusion_shape(index, k), "R")
    return (*_inclusion_shape(index - k, size - k), "L")


def _consistency_shape(old: int, new: int, complete: bool = True) -> tuple[str, ...]:
    """The structure of PROOF(old, D[new]) (RFC 9162 2.1.4.1 SUBPROOF), bottom up."""
    if old == new:
        return () if complete else ("self",)
    k = _split(new)
    if old <= k:
        return (*_consistency_shape(old, k, complete), "R")
    return (*_consistency_shape(old - k, new - k, False), "L")


# -- hashing ----------------------------------------------------------------------------------


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    # A leaf whose data is two hashes does not pass for the node over them.
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert leaf_hash(left + right) != node_hash(left, right)


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert root_of([]) == EMPTY_ROOT
    assert Frontier().root() == EMPTY_ROOT
    assert Frontier().size == 0
    assert Frontier().to_bytes() == b""


@pytest.mark.parametrize("size", range(len(CT_ROOTS)))
def test_ct_vector_roots_by_definition(size: int) -> None:
    assert root_of(CT_LEAF_HASHES[:size]).hex() == CT_ROOTS[size].hex()


def test_ct_vector_roots_by_frontier_at_every_size() -> None:
    frontier = Frontier()
    assert frontier.root() == CT_ROOTS[0]
    for size, leaf in enumerate(CT_LEAF_HASHES, start=1):
        frontier.append(leaf)
        assert frontier.size == size
        assert frontier.root().hex() == CT_ROOTS[size].hex()


@pytest.mark.parametrize("size", range(len(CT_ROOTS)))
def test_ct_vector_roots_by_frontier_extend(size: int) -> None:
    frontier = Frontier()
    frontier.extend(CT_LEAF_HASHES[:size])
    assert frontier.root() == CT_ROOTS[size]
    restored = Frontier.from_bytes(size, frontier.to_bytes())
    assert restored.root() == CT_ROOTS[size]


@pytest.mark.parametrize("index", sorted(CT_INCLUSION_PROOFS))
def test_ct_vector_inclusion_proofs(index: int) -> None:
    proof = inclusion_proof(CT_LEAF_HASHES, index)
    assert _hex(proof) == CT_INCLUSION_PROOFS[index]
    assert verify_inclusion(CT_LEAF_HASHES[index], index, 8, proof, CT_ROOTS[8])


def test_ct_vector_consistency_proof_2_to_8() -> None:
    proof = consistency_proof(CT_LEAF_HASHES, 2)
    assert _hex(proof) == CT_CONSISTENCY_2_TO_8
    assert verify_consistency(2, 8, CT_ROOTS[2], CT_ROOTS[8], proof)
    assert not verify_consistency(2, 8, CT_ROOTS[3], CT_ROOTS[8], proof)
    assert not verify_consistency(2, 8, CT_ROOTS[2], CT_ROOTS[7], proof)


def test_ct_vector_proofs_verify_at_every_prefix() -> None:
    for size in range(1, 9):
        tree = CT_LEAF_HASHES[:size]
        for index in range(size):
            proof = inclusion_proof(tree, index)
            assert verify_inclusion(tree[index], index, size, proof, CT_ROOTS[size])
        for old in range(1, size + 1):
            proof = consistency_proof(tree, old)
            assert verify_consistency(old, size, CT_ROOTS[old], CT_ROOTS[size], proof)


def test_seven_single_byte_leaves_root() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(7)]
    assert root_of(leaves).hex() == SEVEN_BYTE_LEAVES_ROOT
    frontier = Frontier()
    frontier.extend(leaves)
    assert frontier.root().hex() == SEVEN_BYTE_LEAVES_ROOT


# -- exhaustive small trees: inclusion --------------------------------------------------------


def _inclusion_cases(size: int) -> Iterator[tuple[list[bytes], bytes, int, list[bytes]]]:
    """(tree, root, index, proof) for every leaf of the reference tree of ``size`` leaves."""
    tree = LEAVES[:size]
    root = root_of(tree)
    for index in range(size):
        yield tree, root, index, inclusion_proof(tree, index)


def _consistency_cases(size: int) -> Iterator[tuple[list[bytes], bytes, int, list[bytes], bytes]]:
    """(tree, root, old size, proof, old root) for every prefix of the tree of ``size`` leaves."""
    tree = LEAVES[:size]
    root = root_of(tree)
    for old in range(1, size + 1):
        yield tree, root, old, consistency_proof(tree, old), root_of(tree[:old])


@pytest.mark.parametrize("size", SIZES)
def test_every_inclusion_proof_verifies(size: int) -> None:
    for tree, root, index, proof in _inclusion_cases(size):
        assert len(proof) == len(_inclusion_shape(index, size))
        assert verify_inclusion(tree[index], index, size, proof, root)


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proof_with_wrong_index_fails(size: int) -> None:
    for tree, root, index, proof in _inclusion_cases(size):
        for other in (-1, *range(size), size, size + 1, index ^ 2):
            if other != index:
                assert not verify_inclusion(tree[index], other, size, proof, root), (index, other)


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proof_with_wrong_size_fails(size: int) -> None:
    for tree, root, index, proof in _inclusion_cases(size):
        shape = _inclusion_shape(index, size)
        # The probes of transparency-dev: a tree of another height never matches.
        assert not verify_inclusion(tree[index], index, size * 2, proof, root)
        assert not verify_inclusion(tree[index], index, size // 2, proof, root)
        assert not verify_inclusion(tree[index], index, 0, proof, root)
        assert not verify_inclusion(tree[index], index, -size, proof, root)
        for other in range(1, 2 * size + 3):
            if other == size:
                continue
            same_shape = index < other and _inclusion_shape(index, other) == shape
            assert verify_inclusion(tree[index], index, other, proof, root) is same_shape, (index, other)


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proof_with_a_flipped_bit_fails(size: int) -> None:
    for tree, root, index, proof in _inclusion_cases(size):
        for position in range(len(proof)):
            for bit in (0, 3, 100 + position, 255):
                bad = list(proof)
                bad[position] = _flip(bad[position], bit)
                assert not verify_inclusion(tree[index], index, size, bad, root), (index, position, bit)


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proof_with_an_element_dropped_or_added_fails(size: int) -> None:
    for tree, root, index, proof in _inclusion_cases(size):
        leaf = tree[index]
        for position in range(len(proof)):
            dropped = proof[:position] + proof[position + 1 :]
            assert not verify_inclusion(leaf, index, size, dropped, root), ("dropped", index, position)
        for position in range(len(proof) + 1):
            for extra in (SOME_HASH, root, leaf, *proof):
                added = [*proof[:position], extra, *proof[position:]]
                assert not verify_inclusion(leaf, index, size, added, root), ("added", index, position)
        if proof:
            assert not verify_inclusion(leaf, index, size, proof + proof, root)


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proof_with_wrong_leaf_or_root_fails(size: int) -> None:
    tree = LEAVES[:size]
    root = root_of(tree)
    wrong_roots = [EMPTY_ROOT, SOME_HASH, _flip(root, 0), _flip(root, 255), b"", root[:31]]
    wrong_roots += [root_of(LEAVES[:other]) for other in range(1, 2 * size + 2) if other != size]
    for index in range(size):
        proof = inclusion_proof(tree, index)
        wrong_leaves = [SOME_HASH, _flip(tree[index], 7), b"WrongLeaf", root, LEAVES[size + 1]]
        wrong_leaves += [tree[other] for other in range(size) if other != index]
        for leaf in wrong_leaves:
            if leaf == tree[index]:  # a one-leaf tree's root is its leaf
                continue
            assert not verify_inclusion(leaf, index, size, proof, root), (index, leaf.hex())
        for wrong in wrong_roots:
            assert not verify_inclusion(tree[index], index, size, proof, wrong), (index, wrong.hex())


def test_inclusion_proof_of_a_single_leaf_tree_is_empty() -> None:
    leaf = LEAVES[0]
    assert inclusion_proof([leaf], 0) == []
    assert root_of([leaf]) == leaf
    assert verify_inclusion(leaf, 0, 1, [], leaf)
    assert not verify_inclusion(leaf, 0, 1, [SOME_HASH], node_hash(leaf, SOME_HASH))


@pytest.mark.parametrize(("size", "index"), [(0, 0), (1, 1), (1, -1), (5, 5), (5, -1), (8, 100)])
def test_inclusion_proof_out_of_range_is_a_value_error(size: int, index: int) -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof(LEAVES[:size], index)


# -- exhaustive small trees: consistency ------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_every_consistency_proof_verifies(size: int) -> None:
    for tree, root, old, proof, _ in _consistency_cases(size):
        assert len(proof) == len(_consistency_shape(old, size))
        assert verify_consistency(old, size, root_of(tree[:old]), root, proof), old


@pytest.mark.parametrize("size", SIZES)
def test_consistency_proof_with_wrong_old_size_fails(size: int) -> None:
    for _tree, root, old, proof, old_root in _consistency_cases(size):
        for other in (-1, 0, *range(1, size + 3), old ^ 2):
            if other != old:
                assert not verify_consistency(other, size, old_root, root, proof), (old, other)


@pytest.mark.parametrize("size", SIZES)
def test_consistency_proof_with_wrong_new_size_fails(size: int) -> None:
    for _tree, root, old, proof, old_root in _consistency_cases(size):
        shape = _consistency_shape(old, size)
        assert not verify_consistency(old, size * 2, old_root, root, proof)
        if size // 2 != old:
            assert not verify_consistency(old, size // 2, old_root, root, proof)
        for other in range(0, 2 * size + 3):
            if other == size:
                continue
            same_shape = old <= other and _consistency_shape(old, other) == shape
            assert verify_consistency(old, other, old_root, root, proof) is same_shape, (old, other)


@pytest.mark.parametrize("size", SIZES)
def test_consistency_proof_with_a_flipped_bit_fails(size: int) -> None:
    for _tree, root, old, proof, old_root in _consistency_cases(size):
        for position in range(len(proof)):
            for bit in (0, 3, 100 + position, 255):
                bad = list(proof)
                bad[position] = _flip(bad[position], bit)
                assert not verify_consistency(old, size, old_root, root, bad), (old, position, bit)


@pytest.mark.parametrize("size", SIZES)
def test_consistency_proof_with_an_element_dropped_or_added_fails(size: int) -> None:
    for _tree, root, old, proof, old_root in _consistency_cases(size):
        for position in range(len(proof)):
            dropped = proof[:position] + proof[position + 1 :]
            assert not verify_consistency(old, size, old_root, root, dropped), ("dropped", old, position)
        for position in range(len(proof) + 1):
            for extra in (SOME_HASH, old_root, root, *proof):
                added = [*proof[:position], extra, *proof[position:]]
                assert not verify_consistency(old, size, old_root, root, added), ("added", old, position)


@pytest.mark.parametrize("size", SIZES)
def test_consistency_proof_with_wrong_roots_fails(size: int) -> None:
    tree = LEAVES[:size]
    root = root_of(tree)
    others = [root_of(LEAVES[:n]) for n in range(1, 2 * size + 2)]
    for old in range(1, size + 1):
        proof = consistency_proof(tree, old)
        old_root = root_of(tree[:old])
        for wrong in [EMPTY_ROOT, SOME_HASH, _flip(old_root, 0), _flip(old_root, 255), b"", *others]:
            if wrong != old_root:
                assert not verify_consistency(old, size, wrong, root, proof), (old, "old root")
        for wrong in [EMPTY_ROOT, SOME_HASH, _flip(root, 0), _flip(root, 255), b"", *others]:
            if wrong != root:
                assert not verify_consistency(old, size, old_root, wrong, proof), (old, "new root")
        if old < size:
            assert not verify_consistency(old, size, root, old_root, proof), (old, "swapped roots")
            assert not verify_consistency(old, size, old_root, root, []), (old, "empty proof")


def test_consistency_with_equal_sizes_needs_an_empty_proof_and_equal_roots() -> None:
    for size in range(1, 9):
        root = root_of(LEAVES[:size])
        assert consistency_proof(LEAVES[:size], size) == []
        assert verify_consistency(size, size, root, root, [])
        assert not verify_consistency(size, size, root, root, [root])
        assert not verify_consistency(size, size, root, root, [SOME_HASH])
        assert not verify_consistency(size, size, root, _flip(root, 9), [])
        assert not verify_consistency(size, size, SOME_HASH, root, [])


def test_consistency_from_the_empty_tree_is_not_proved() -> None:
    # RFC 9162 has no proof for an old size of 0, and the verifier accepts none.
    assert not verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, root_of(LEAVES[:5]), [])


@pytest.mark.parametrize(("size", "old"), [(0, 0), (5, 0), (5, 6), (5, -1), (1, 2), (0, 1)])
def test_consistency_proof_out_of_range_is_a_value_error(size: int, old: int) -> None:
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_proof(LEAVES[:size], old)


def test_verify_rejects_negative_and_inverted_sizes() -> None:
    root = root_of(LEAVES[:4])
    assert not verify_inclusion(LEAVES[0], -1, 4, inclusion_proof(LEAVES[:4], 0), root)
    assert not verify_inclusion(LEAVES[0], 0, -4, [], root)
    assert not verify_consistency(4, 2, root, root_of(LEAVES[:2]), consistency_proof(LEAVES[:4], 2))
    assert not verify_consistency(-2, 4, root_of(LEAVES[:2]), root, consistency_proof(LEAVES[:4], 2))


# -- Frontier ---------------------------------------------------------------------------------


def test_frontier_keeps_one_hash_per_one_bit_of_its_size() -> None:
    frontier = Frontier()
    for size in range(1, 70):
        frontier.append(LEAVES[size % len(LEAVES)])
        assert frontier.size == size
        assert len(frontier.to_bytes()) == 32 * bin(size).count("1")


def test_frontier_copy_is_independent() -> None:
    frontier = Frontier()
    frontier.extend(LEAVES[:5])
    copy = frontier.copy()
    copy.append(LEAVES[5])
    assert frontier.size == 5
    assert frontier.root() == root_of(LEAVES[:5])
    assert copy.size == 6
    assert copy.root() == root_of(LEAVES[:6])
    frontier.extend(LEAVES[5:9])
    assert copy.root() == root_of(LEAVES[:6])
    assert frontier.root() == root_of(LEAVES[:9])


def test_frontier_constructor_checks_its_hashes() -> None:
    with pytest.raises(ValueError, match="one 32-byte hash"):
        Frontier(3, [SOME_HASH])
    with pytest.raises(ValueError, match="one 32-byte hash"):
        Frontier(1, [SOME_HASH[:31]])
    with pytest.raises(ValueError, match="one 32-byte hash"):
        Frontier(0, [SOME_HASH])
    assert Frontier(2, [SOME_HASH]).root() == SOME_HASH


def test_frontier_rejects_a_negative_size() -> None:
    with pytest.raises(ValueError, match="one 32-byte hash"):
        Frontier.from_bytes(-1, SOME_HASH)


leaf_lists = st.lists(st.binary(min_size=32, max_size=32), max_size=120)


@settings(max_examples=150, deadline=None)
@given(leaves=leaf_lists)
def test_frontier_built_incrementally_equals_root_of(leaves: list[bytes]) -> None:
    frontier = Frontier()
    assert frontier.root() == root_of([])
    for size, leaf in enumerate(leaves, start=1):
        frontier.append(leaf)
        assert frontier.size == size
        assert frontier.root() == root_of(leaves[:size])
    extended = Frontier()
    extended.extend(leaves)
    assert extended.to_bytes() == frontier.to_bytes()


@settings(max_examples=150, deadline=None)
@given(leaves=leaf_lists, more=leaf_lists)
def test_frontier_bytes_round_trip(leaves: list[bytes], more: list[bytes]) -> None:
    frontier = Frontier()
    frontier.extend(leaves)
    restored = Frontier.from_bytes(frontier.size, frontier.to_bytes())
    assert restored.size == frontier.size
    assert restored.to_bytes() == frontier.to_bytes()
    assert restored.root() == frontier.root()
    restored.extend(more)
    assert restored.root() == root_of(leaves + more)


@settings(max_examples=300, deadline=None)
@given(size=st.integers(min_value=0, max_value=2**70), blob=st.binary(max_size=32 * 12))
def test_frontier_from_bytes_rejects_bad_lengths_and_sizes(size: int, blob: bytes) -> None:
    fits = len(blob) % 32 == 0 and len(blob) // 32 == bin(size).count("1")
    if fits:
        assert Frontier.from_bytes(size, blob).to_bytes() == blob
    else:
        with pytest.raises(ValueError, match="32-byte hash"):
            Frontier.from_bytes(size, blob)


@settings(max_examples=100, deadline=None)
@given(size=st.integers(min_value=1, max_value=2**64), cut=st.integers(min_value=1, max_value=31))
def test_frontier_from_bytes_rejects_a_torn_blob(size: int, cut: int) -> None:
    blob = SOME_HASH * bin(size).count("1")
    with pytest.raises(ValueError, match="32-byte hash"):
        Frontier.from_bytes(size, blob[:-cut])
    with pytest.raises(ValueError, match="32-byte hash"):
        Frontier.from_bytes(size, blob + SOME_HASH[:cut])
    with pytest.raises(ValueError, match="32-byte hash"):
        Frontier.from_bytes(size, blob + SOME_HASH)


# -- verifiers on garbage ---------------------------------------------------------------------

sizes = st.integers(min_value=-(2**70), max_value=2**70) | st.integers(min_value=-2, max_value=70)
hashes = st.binary(min_size=32, max_size=32) | st.binary(max_size=40)
proofs = st.lists(hashes, max_size=70)


@settings(max_examples=500, deadline=None)
@given(leaf=hashes, index=sizes, size=sizes, proof=proofs, root=hashes)
def test_verify_inclusion_never_raises_on_garbage(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    result = verify_inclusion(leaf, index, size, proof, root)
    trivially_true = index == 0 and size == 1 and not proof and leaf == root
    assert result is trivially_true


@settings(max_examples=500, deadline=None)
@given(old=sizes, new=sizes, old_root=hashes, new_root=hashes, proof=proofs)
def test_verify_consistency_never_raises_on_garbage(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> None:
    result = verify_consistency(old, new, old_root, new_root, proof)
    trivially_true = 0 < old == new and not proof and old_root == new_root
    assert result is trivially_true


@settings(max_examples=300, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=64),
    data=st.data(),
)
def test_verifiers_reject_proofs_of_random_hashes_for_real_trees(size: int, data: st.DataObject) -> None:
    tree = LEAVES[:size]
    root = root_of(tree)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    old = data.draw(st.integers(min_value=1, max_value=size))
    length = data.draw(st.integers(min_value=0, max_value=10))
    garbage = data.draw(st.lists(st.binary(min_size=32, max_size=32), min_size=length, max_size=length))
    if garbage != inclusion_proof(tree, index):
        assert not verify_inclusion(tree[index], index, size, garbage, root)
    if garbage != consistency_proof(tree, old):
        assert not verify_consistency(old, size, root_of(tree[:old]), root, garbage)
