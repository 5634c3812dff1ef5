// placeholder: the tokenizer helper replaces this file
