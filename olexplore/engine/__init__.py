"""optimize_loss and its gradient transforms on TensorFlow 2 (TensorFlow only, no widgets)."""
