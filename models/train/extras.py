"""The shipped recipe's extra training sets, as listed in extras.tsv (the one list;
extras.sh reads the same file for the shell scripts)."""
import pathlib

TSV = pathlib.Path(__file__).with_name("extras.tsv")


def extra_sets():
    """[(name, folder under models/corpus/data, weight as written)] in file order."""
    with open(TSV) as f:
        return [tuple(ln.rstrip("\n").split("\t")[:3]) for ln in f
                if ln.strip() and not ln.startswith("#")]
