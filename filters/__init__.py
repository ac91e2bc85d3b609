"""thresher.filters: datatrove pipeline steps that filter or annotate documents."""
