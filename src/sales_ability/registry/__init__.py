"""The model's record: MLflow runs of every stage (``tracking``), the registered versions, their aliases and the
serving contract a version resolves to (``models``), and the card a version carries (``card``)."""
