"""Tasks backed by a published dataset: items from local files (or a hub), sampled with the seed.

Options of every dataset task (config `tasks.<name>.options`):
- `train_path`, `test_path`: local files (JSONL, JSON or Parquet in the dataset's published format);
  n_train items are drawn from the first and n_test from the second.
- `path`: one local file instead, shuffled with the seed and cut into disjoint train and test items.
- `hub`: {id, config, train_split, test_split}: the `datasets` library, where a hub is reachable and
  no local file is given; never required.
- `bad_rows`: "error" (default: the first malformed record stops the run, naming file, line, field)
  or "skip" (malformed records are left out, counted and logged).
"""

from __future__ import annotations

import logging
import random

from svgap.tasks import loading
from svgap.tasks.base import Item, Task

log = logging.getLogger(__name__)


class DatasetTask(Task):
    #: the key of `loading.CONVERTERS` for this dataset's format
    dataset: str = ""

    def _load(self, path: str) -> list[Item]:
        items, skipped = loading.load_split(path, self.dataset, self.options.get("bad_rows", "error"))
        if skipped:
            log.warning("%s: %d malformed records skipped (bad_rows: skip)", path, skipped)
        log.info("%s: %d %s items", path, len(items), self.dataset)
        return items

    def _pools(self) -> tuple[list[Item], list[Item] | None, str]:
        """(train pool, test pool or None when both come from one pool, a name for messages)."""
        o = self.options
        if o.get("train_path") or o.get("test_path"):
            if not (o.get("train_path") and o.get("test_path")):
                raise ValueError(f"{self.dataset}: give both train_path and test_path (or one `path`)")
            return self._load(o["train_path"]), self._load(o["test_path"]), f"{o['train_path']} / {o['test_path']}"
        if o.get("path"):
            return self._load(o["path"]), None, str(o["path"])
        if o.get("hub"):
            hub = o["hub"]
            bad = o.get("bad_rows", "error")
            train, _ = loading.load_hub(hub["id"], hub.get("config"), hub.get("train_split", "train"),
                                        self.dataset, bad)
            test, _ = loading.load_hub(hub["id"], hub.get("config"), hub.get("test_split", "test"),
                                       self.dataset, bad)
            return train, test, f"hub:{hub['id']}"
        raise ValueError(f"{self.dataset}: the task needs options train_path and test_path, path, or hub")

    def items(self, n_train, n_test, seed):
        train_pool, test_pool, name = self._pools()
        rng = random.Random(seed)
        if test_pool is None:
            if n_train + n_test > len(train_pool):
                raise ValueError(f"{name}: {n_train} + {n_test} items asked, the file has {len(train_pool)}")
            pool = rng.sample(train_pool, len(train_pool))
            return {"train": pool[:n_train], "test": pool[n_train:n_train + n_test]}
        for split, pool, n in (("train", train_pool, n_train), ("test", test_pool, n_test)):
            if n > len(pool):
                raise ValueError(f"{name}: {n} {split} items asked, the {split} file has {len(pool)}")
        train, test = rng.sample(train_pool, n_train), rng.sample(test_pool, n_test)
        overlap = {it.prompt_id for it in train} & {it.prompt_id for it in test}
        if overlap:
            raise ValueError(f"{name}: train and test share prompt ids {sorted(overlap)[:5]}")
        return {"train": train, "test": test}
