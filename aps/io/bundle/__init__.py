"""Plant input as a bundle of tables: a folder of CSVs, a .zip of them, or one .xlsx."""
