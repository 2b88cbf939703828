from .fer_data_sample import FERDataSample, format_label, format_score

__all__ = ['FERDataSample', 'format_label', 'format_score']
