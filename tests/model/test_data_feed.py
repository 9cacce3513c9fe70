from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from sales_ability.model.feed import FaceTensorDataset


def _with_splits(featurized: Path, tmp_path: Path) -> Path:
    """Copy the featurized demo shards with splits filled in (train/validation/test by clip number)."""
    import pyarrow as pa

    out = tmp_path / "faces"
    out.mkdir()
    for shard in sorted(featurized.glob("part-*.parquet")):
        table = pq.read_table(shard)
        splits = ["test" if c.endswith("_c2") else "validation" if c.endswith("_c3") else "train"
                  for c in table.column("clip_id").to_pylist()]
        table = table.set_column(table.schema.get_field_index("split"), "split", pa.array(splits, pa.string()))
        pq.write_table(table, out / shard.name)
    return out


def test_batches_cover_each_clip_once_per_epoch(featurized_demo: Path, tmp_path: Path) -> None:
    faces = _with_splits(featurized_demo, tmp_path)
    data = FaceTensorDataset(faces, "train", batch_size=2, shuffle=True, seed=3)
    assert data.n_clips == 6 and len(data) == 3
    seen = []
    for epoch in range(2):
        labels = []
        for i in range(len(data)):
            x, y = data[i]
            assert x.dtype == np.uint8 and x.shape[1:] == (60, 64, 64, 3)
            assert y.dtype == np.float32 and y.shape[1] == 5
            labels.extend(map(tuple, y.round(4)))
            assert len(data._cache) <= 2  # memory: at most two shards held
        assert sorted(labels) == sorted(map(tuple, data.labels().round(4)))
        seen.append(labels)
        data.on_epoch_end()
    assert seen[0] != seen[1]  # reshuffled


def test_split_selection_and_means(featurized_demo: Path, tmp_path: Path) -> None:
    faces = _with_splits(featurized_demo, tmp_path)
    test = FaceTensorDataset(faces, "test", batch_size=4)
    assert all(c.endswith("_c2") for c in test.clip_ids) and test.n_clips == 3
    assert np.allclose(test.label_means(), test.labels().mean(axis=0))
    everything = FaceTensorDataset(faces, None)
    assert everything.n_clips == 12


def test_prefetching_threads_feed_keras_every_clip_once_per_epoch(tmp_path: Path) -> None:
    """workers=3: Keras' enqueuer calls the feed from a thread pool; each epoch still sees every clip once,
    with shards evicted and decoded again under the threads (cache of two shards)."""
    import threading

    import keras

    from tests.model.synthetic import write_face_tensors

    class RecordingFeed(FaceTensorDataset):
        def __getitem__(self, index: int):
            x, y = super().__getitem__(index)
            self.served.extend(map(tuple, y.round(4)))
            self.threads.add(threading.get_ident())
            return x, y

    faces = write_face_tensors(tmp_path / "faces", n_clips=24, n_frames=2, size=8)  # 5 clips per shard
    feed = RecordingFeed(faces, "train", batch_size=2, shuffle=True, augment_flip=True, cache_bytes=0, workers=3)
    feed.threads = set()
    inputs = keras.Input((2, 8, 8, 3), dtype="uint8")
    pooled = keras.layers.GlobalAveragePooling3D()(keras.ops.cast(inputs, "float32"))
    model = keras.Model(inputs, keras.layers.Dense(5)(pooled))
    model.compile(loss="mse")
    expected = sorted(map(tuple, feed.labels().round(4)))
    assert len(expected) == 12
    for _ in range(2):
        feed.served = []
        model.fit(feed, epochs=1, verbose=0)
        assert sorted(set(feed.served)) == expected  # every clip (Keras may also peek at a batch for its spec)
    assert feed.threads - {threading.get_ident()}  # batches were made off the training thread
