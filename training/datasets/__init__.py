"""Dataset loaders: the testbed's output, labelled folders, CIC-IDS2017; splits and dedup."""
