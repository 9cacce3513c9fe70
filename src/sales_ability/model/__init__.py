"""The CNN-LSTM network, the Parquet feed, training and evaluation."""
