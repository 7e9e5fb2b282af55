"""Streaming data: seeded endless order, worker decoding equal to the in-memory loader, bit-exact resume."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recognizer.faces import DataError
from recognizer.image_files import load_identity_folders
from recognizer.streaming import (
    ImageFolderFaces, SeededStreamSampler, StreamingFaceDataset, StreamingLoader, open_encoded_faces,
)


def _take(iterator, count: int) -> list[int]:
    return [next(iterator) for _ in range(count)]


def test_sampler_streams_seeded_epochs_and_starts_anywhere() -> None:
    sampler = SeededStreamSampler(5, seed=3)
    stream = _take(iter(sampler), 12)
    assert stream[:5] == np.random.default_rng([3, 0]).permutation(5).tolist()
    assert stream[5:10] == np.random.default_rng([3, 1]).permutation(5).tolist()
    assert sorted(stream[:5]) == sorted(stream[5:10]) == [0, 1, 2, 3, 4]
    assert _take(iter(SeededStreamSampler(5, seed=3, start=7)), 5) == stream[7:12]
    assert stream != _take(iter(SeededStreamSampler(5, seed=4)), 12)


@pytest.fixture
def faces_folder(image_folder):
    return image_folder({"ann": 7, "bob": 6, "cy": 8}, size=(20, 24))


def test_workers_decode_the_images_the_in_memory_loader_gives(faces_folder) -> None:
    reference = load_identity_folders(faces_folder, image_size=16, color="rgb")
    faces = open_encoded_faces(faces_folder)
    assert isinstance(faces, ImageFolderFaces) and faces.labels().tolist() == reference.labels.tolist()
    loader = StreamingLoader(StreamingFaceDataset(faces, image_size=16), batch_size=8, seed=0, num_workers=2)
    order = _take(iter(SeededStreamSampler(len(faces), seed=0)), 24)
    for first in (0, 8, 16):  # the third batch crosses from epoch 0 (21 images) into epoch 1
        images, labels = loader.next_batch()
        indices = order[first:first + 8]
        assert images.dtype == torch.uint8 and images.shape == (8, 3, 16, 16)
        assert torch.equal(images, reference.images[indices]) and torch.equal(labels, reference.labels[indices])
    loader.close()


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_from_a_saved_state_continues_bit_exactly(faces_folder, workers) -> None:
    dataset = StreamingFaceDataset(open_encoded_faces(faces_folder), image_size=16)
    loader = StreamingLoader(dataset, batch_size=5, seed=11, num_workers=workers)
    _take(iter(loader), 3)
    state = loader.state_dict()
    continued = _take(iter(loader), 4)  # crosses the epoch boundary at image 21
    resumed = StreamingLoader(dataset, batch_size=5, seed=11, num_workers=workers)
    resumed.load_state_dict(state)
    for (images, labels), (again_images, again_labels) in zip(continued, _take(iter(resumed), 4)):
        assert torch.equal(images, again_images) and torch.equal(labels, again_labels)
    assert state == {"seed": 11, "num_samples": 21, "delivered": 15}
    with pytest.raises(DataError, match="resume with the same data and seed"):
        StreamingLoader(dataset, batch_size=5, seed=12).load_state_dict(state)
    loader.close()
    resumed.close()
