"""What every front end shares: the operator interface, the folded session state, and the
one presentation of events.  The session and its workflows are
:class:`spfp_console.deployment.DeploymentSession`.  Nothing here imports Textual."""
