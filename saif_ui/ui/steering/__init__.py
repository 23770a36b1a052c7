"""The Steering tab (SAIF Stage 2): its layout (`tab`), the steer and recipe events (`steer`), the long jobs (`sweep`:
α sweep, ablation, special-token grid) and the two-instructions section (`joint`)."""
