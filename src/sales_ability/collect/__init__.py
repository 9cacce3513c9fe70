"""The data-collection website: consent, camera check, five recorded answers, the IPIP-50, a thank-you code."""
