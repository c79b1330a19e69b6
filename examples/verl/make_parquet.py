"""prompts.jsonl -> prompts.parquet, the format veRL's data.train_files reads (needs pandas and
pyarrow, which veRL installs):  python examples/verl/make_parquet.py [out.parquet]"""

import sys
from pathlib import Path

import pandas as pd

here = Path(__file__).parent
out = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "prompts.parquet"
pd.read_json(here / "prompts.jsonl", lines=True).to_parquet(out)
print(out)
