"""The Steering tab (SAIF Stage 2): its layout (`tab`), the steer and recipe events (`steer`), the long jobs (`sweep`:
α sweep, ablation, special-token grid), the two-instructions section (`joint`) and the Distil panel (`distil`)."""
