//! SVG figures for rationales: token heatmaps, human-vs-model comparisons and curves.
