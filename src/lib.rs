//! `rationale`: score, extract, explain and draw rationales for NLP models.
