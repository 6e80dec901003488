"""The transfer pipeline: readers -> bounded read-ahead queue -> DynamicWriterPool."""
