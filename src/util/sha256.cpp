// PLACEHOLDER written by the lead so the tree builds; helper replaces it.
